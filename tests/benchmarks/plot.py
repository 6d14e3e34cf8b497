"""The PNG: API calls by type for the 1,000-record batch, and wall time against batch size."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on CI or in containers
    import matplotlib.pyplot as plt

    figure, (calls_axes, wall_axes) = plt.subplots(1, 2, figsize=(13, 5))
    main, reference = results["batch_1000"], results["reference"]
    names = list(main["fewest"])
    width = 0.27
    positions = range(len(names))
    series = (
        ("fewest possible", [main["fewest"][n] for n in names], "#999999"),
        ("pue", [main["calls"].get(n, 0) for n in names], "#1f77b4"),
        ("per-record reference", [reference["calls"].get(n, 0) for n in names], "#d62728"),
    )
    for offset, (label, values, color) in enumerate(series):
        calls_axes.bar([p + (offset - 1) * width for p in positions], values, width, label=label, color=color)
    calls_axes.set_xticks(list(positions), names, rotation=30, ha="right")
    calls_axes.set_yscale("symlog", linthresh=1)
    calls_axes.set_ylabel("calls")
    calls_axes.set_title(f"API calls, one 1,000-record batch ({main['user_messages']:,} messages)")
    calls_axes.legend()

    rows = results["scaling"]
    sizes = [row["records"] for row in rows]
    wall_axes.plot(sizes, [row["wall_seconds"] for row in rows], "o-", label="pue", color="#1f77b4")
    wall_axes.plot(
        sizes, [row["lower_bound"]["seconds"] for row in rows], "s--", label="lower bound", color="#999999"
    )
    per_record = reference["wall_seconds"] / main["records"]
    wall_axes.plot(
        sizes,
        [per_record * size for size in sizes],
        "^:",
        label="per-record reference (linear)",
        color="#d62728",
    )
    wall_axes.set_xscale("log")
    wall_axes.set_yscale("log")
    wall_axes.set_xlabel("Kinesis records in the batch")
    wall_axes.set_ylabel("wall time (s)")
    latency_ms = results["settings"]["latency_seconds"] * 1000
    wall_axes.set_title(
        f"Wall time per batch, {latency_ms:.0f} ms per call, pool of {results['settings']['pool']}"
    )
    wall_axes.grid(True, which="both", alpha=0.3)
    wall_axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
