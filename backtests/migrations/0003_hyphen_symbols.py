"""Stored backtest results and errors spell symbols with a hyphen (ETH-USD), as the API answers
everywhere outside /v1/algos. Jobs finished before that kept ETH/USD in their results JSON (trades,
traces, logs, summary) and in error messages such as "algo trapped at event 3 (ETH/USD): ...".
Results stay canonical JSON (sorted keys, no spaces), as the replay writes them."""

from __future__ import annotations

import json
import re
from typing import Any

from django.db import migrations

_IN_ERROR = re.compile(r"\(([A-Z][A-Z0-9]{1,9})/([A-Z][A-Z0-9]{1,9})\)")


def hyphenate_results(text: str) -> str:
    """The results JSON with every symbol in hyphen form; the same text when there was none."""
    data = json.loads(text)
    items = [i for key in ("trades", "traces", "logs") for i in data.get(key) or [] if isinstance(i, dict)]
    summary = data.get("summary") if isinstance(data.get("summary"), dict) else {}
    slashed = [i for i in items if "/" in str(i.get("symbol", ""))]
    symbols = summary.get("symbols") if isinstance(summary.get("symbols"), list) else []
    positions = summary.get("positions") if isinstance(summary.get("positions"), dict) else {}
    if not slashed and not any("/" in str(s) for s in [*symbols, *positions]):
        return text
    for item in slashed:
        item["symbol"] = item["symbol"].replace("/", "-")
    if symbols:
        summary["symbols"] = [str(s).replace("/", "-") for s in symbols]
    if positions:
        summary["positions"] = {k.replace("/", "-"): v for k, v in positions.items()}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def hyphenate_error(error: str) -> str:
    return _IN_ERROR.sub(r"(\1-\2)", error)


def forwards(apps: Any, schema_editor: Any) -> None:
    BacktestJob = apps.get_model("backtests", "BacktestJob")
    jobs = BacktestJob.objects.exclude(results_json=None).only("pk", "results_json")
    for job in jobs.iterator(chunk_size=20):
        text = hyphenate_results(job.results_json)
        if text != job.results_json:
            BacktestJob.objects.filter(pk=job.pk).update(results_json=text)
    for job in BacktestJob.objects.filter(error__contains="/").only("pk", "error"):
        BacktestJob.objects.filter(pk=job.pk).update(error=hyphenate_error(job.error))


class Migration(migrations.Migration):
    dependencies = [("backtests", "0002_job_heartbeat")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
