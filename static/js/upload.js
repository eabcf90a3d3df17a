// Upload .wasm: fill the symbol from a conventional file name (algo_btc_usd.wasm -> BTC/USD), the
// same pattern as sequence_site.symbols.Symbol.from_filename (which the server applies too).
(function () {
  const file = document.getElementById("wasm-file");
  const symbol = document.getElementById("symbol");
  const hint = document.getElementById("symbol-hint");
  if (!file || !symbol) return;
  const PATTERN = /^algo_([a-z][a-z0-9]{1,9})_([a-z][a-z0-9]{1,9})\.wasm$/i;
  const defaultHint = hint ? hint.innerHTML : "";
  let autoFilled = "";

  file.addEventListener("change", function () {
    const name = file.files && file.files[0] ? file.files[0].name : "";
    const match = PATTERN.exec(name);
    // Never overwrite what the user typed; do replace what we filled in ourselves.
    const typedByUser = symbol.value.trim() !== "" && symbol.value !== autoFilled;
    if (match && !typedByUser) {
      autoFilled = match[1].toUpperCase() + "/" + match[2].toUpperCase();
      symbol.value = autoFilled;
    } else if (!match && symbol.value === autoFilled) {
      symbol.value = autoFilled = "";
    }
    if (!hint) return;
    if (match) {
      hint.textContent = "Symbol detected from the file name: " + match[1].toUpperCase() + "/" + match[2].toUpperCase();
      hint.className = "hint ok";
    } else if (name) {
      hint.textContent = "No symbol in this file name: type it as BASE/QUOTE.";
      hint.className = "hint";
    } else {
      hint.innerHTML = defaultHint;
      hint.className = "hint";
    }
  });
})();
