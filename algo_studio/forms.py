"""Algo Studio forms: they check the shape of what the browser sent; the services decide the rest."""

from __future__ import annotations

from django import forms

from algo_studio.services import MAX_WASM_BYTES, wasm_too_large
from sequence_site.errors import InvalidInput
from venues.symbols import Symbol


class UploadForm(forms.Form):
    """Upload .wasm: the file, the symbol (typed, or taken from ``algo_<base>_<quote>.wasm``), a venue."""

    wasm = forms.FileField(label="WASM file")
    symbol = forms.CharField(label="Symbol", required=False, max_length=64)
    # Empty: every algo-capable venue. The service checks the name (the same message as the API's).
    venue = forms.CharField(label="Venue", required=False, max_length=40)

    def clean_wasm(self) -> bytes:
        upload = self.cleaned_data["wasm"]
        if upload.size is not None and upload.size > MAX_WASM_BYTES:
            # The file's real size (reading MAX+1 bytes only ever showed "1048577 bytes").
            raise forms.ValidationError(wasm_too_large(upload.size).message)
        # Read one byte past the limit: enough to know it is too big without reading all of it.
        data = upload.read(MAX_WASM_BYTES + 1)
        if not data:
            raise forms.ValidationError("The file is empty: choose a compiled .wasm file.")
        self.filename = upload.name or ""
        return bytes(data)

    def symbol_text(self) -> str:
        """The typed symbol, else the one in the file name; ``InvalidInput`` when there is neither."""
        typed = (self.cleaned_data.get("symbol") or "").strip()
        if typed:
            return typed
        detected = Symbol.from_filename(getattr(self, "filename", ""))
        if detected is None:
            raise InvalidInput(
                f"Could not read a symbol from the file name {self.filename!r}: "
                "name it algo_<base>_<quote>.wasm (e.g. algo_btc_usd.wasm) or type the symbol as BASE/QUOTE."
            )
        return detected.slash
