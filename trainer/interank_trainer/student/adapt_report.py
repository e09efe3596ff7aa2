"""What an adaptation run says about itself: ``adapt_report.json``, a markdown table and a plot."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from interank_sdk.errors import MissingDependencyError

from .._deps import need

logger = logging.getLogger(__name__)

REPORT_JSON = "adapt_report.json"
REPORT_MD = "adapt_report.md"
REPORT_PNG = "adapt_report.png"


def write_json_atomic(path: Path, payload: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table: one row per system, overall and per domain."""
    lines = [f"# Adaptation report: {report['verdict']}", ""]
    heldout = report.get("heldout", {})
    systems = heldout.get("systems", {})
    if systems:
        domains = sorted({d for s in systems.values() for d in s.get("by_domain", {})})
        lines.append(f"Held-out: {heldout['queries']} queries ({heldout['origin']}), first stage "
                     f"{report['first_stage']} top {heldout['depth']}; nDCG@10 (MRR@10 overall).")
        lines.append("")
        lines.append("| system | nDCG@10 | MRR@10 | pairs/s | " + " | ".join(domains) + (" |" if domains else ""))
        lines.append("|---|---|---|---|" + "---|" * len(domains))
        for name, m in systems.items():
            pps = m.get("pairs_per_second")
            cells = [name, f"{m['nDCG@10']:.3f}", f"{m['MRR@10']:.3f}", f"{pps:.0f}" if pps else "-"]
            cells += [f"{m.get('by_domain', {}).get(d, {}).get('nDCG@10', float('nan')):.3f}" for d in domains]
            lines.append("| " + " | ".join(cells) + " |")
    else:
        lines.append("No held-out queries: the gain was not measured (pass eval_judgments / --eval-judgments).")
    subset = heldout.get("teacher_subset")
    if subset:
        lines += _small_table(f"Teacher subset: first {subset['queries']} held-out queries, top {subset['depth']} "
                              "reranked.", subset["systems"])
    elif heldout.get("teacher_note"):
        lines += ["", heldout["teacher_note"]]
    general = report.get("general")
    if general:
        lines += _small_table(f"General domain ({general['data']}, {general['queries']} queries, BM25 top "
                              f"{general['depth']}):", general["systems"])
    lines += _ablation_table(report.get("ablation"))
    lines += [""] + [f"- warning: {w}" for w in report.get("warnings", [])]
    base, training = report.get("base") or {}, report.get("training") or {}
    if training:
        lines.append(f"- student: a {report.get('student_kind', 'cross-encoder')} from the base ({base.get('kind')}"
                     f"{', fresh head' if base.get('fresh_head') else ''}), {training.get('steps')} steps of "
                     f"{training.get('loss')} at learning rate {training.get('learning_rate')}")
    ablation = report["minutes"].get("ablation")
    lines.append(f"- budget {report['budget_minutes']} min: teaching {report['minutes']['teach']:.1f}, training "
                 f"{report['minutes']['train']:.1f}, evaluation {report['minutes']['eval']:.1f}"
                 + (f"; ablation (extra) {ablation:.1f}" if ablation is not None else ""))
    return "\n".join(lines) + "\n"


def _ablation_table(ablation: dict[str, Any] | None) -> list[str]:
    if not ablation:
        return []
    if ablation.get("note"):
        return ["", f"Ablation: {ablation['note']}."]
    title = (f"Ablation: each variant trained {ablation['minutes_each']} min from the base on the same teaching, "
             f"scored on the same held-out queries; gain over the {ablation.get('gain_over')}.")
    lines = ["", title, "", "| variant | nDCG@10 | MRR@10 | gain (95 % interval) | steps | trained on |",
             "|---|---|---|---|---|---|"]
    for name, row in ablation["rows"].items():
        low, high = row["gain_interval"]["bootstrap_95"]
        lines.append(f"| {name} | {row['nDCG@10']:.3f} | {row['MRR@10']:.3f} | {row['gain']:+.3f} ({low:+.3f} to "
                     f"{high:+.3f}) | {row['steps']} | {row['student_kind']}{', fresh head' if row['fresh_head'] else ''}"
                     f", {' + '.join(row['scores'])}, co-teacher {'none' if row['co_teacher'] is None else 'mixed'} |")
    lines += [f"- {name}: skipped, {why}" for name, why in ablation["skipped"].items()]
    return lines


def _small_table(title: str, systems: dict[str, Any]) -> list[str]:
    rows = [f"| {name} | {m['nDCG@10']:.3f} | {m['MRR@10']:.3f} |" for name, m in systems.items()]
    return ["", title, "", "| system | nDCG@10 | MRR@10 |", "|---|---|---|", *rows]


def plot(report: dict[str, Any], path: Path) -> bool:
    """Bar charts of nDCG@10 per system (overall and per domain), on the general domain and per ablation variant
    (each beside the base); ``False`` when matplotlib is missing."""
    try:
        matplotlib = need("matplotlib", extra="plot")
        matplotlib.use("Agg")
        plt = need("matplotlib.pyplot", "matplotlib", extra="plot")
    except MissingDependencyError as exc:
        logger.warning("no plot: %s", exc)
        return False
    systems = report.get("heldout", {}).get("systems", {})
    general = (report.get("general") or {}).get("systems", {})
    if not systems and not general:
        return False
    domains = sorted({d for s in systems.values() for d in s.get("by_domain", {})})
    groups = ["all"] + domains
    ablation = (report.get("ablation") or {}).get("rows", {})
    panels = 1 + bool(general) + bool(ablation)
    fig, axes = plt.subplots(1, panels, figsize=(10 + 5 * (panels - 1), 4.8), squeeze=False,
                             gridspec_kw={"width_ratios": [2] + [1] * (panels - 1)})
    ax = axes[0][0]
    width = 0.8 / max(1, len(systems))
    for k, (name, m) in enumerate(systems.items()):
        values = [m["nDCG@10"]] + [m.get("by_domain", {}).get(d, {}).get("nDCG@10", 0.0) for d in domains]
        ax.bar([i + k * width for i in range(len(groups))], values, width, label=name)
    ax.set_xticks([i + width * (len(systems) - 1) / 2 for i in range(len(groups))])
    ax.set_xticklabels(groups, rotation=30, ha="right")
    ax.set_ylabel("nDCG@10 (held-out)")
    ax.legend(fontsize=8, loc="lower right")
    gain = report.get("gain")
    interval = report.get("heldout", {}).get("gain_interval", {}).get("bootstrap_95")
    outcome = f"use the {report.get('use')}" + (f", student gain {gain:+.3f} nDCG@10" if gain is not None else "") \
        + (f", 95 % interval {interval[0]:+.3f} to {interval[1]:+.3f}" if interval else "")
    ax.set_title(f"held-out: {report['heldout'].get('queries', 0)} queries\n{outcome}", fontsize=10)
    if general:
        b = axes[0][1]
        names = list(general)
        b.barh(names, [general[n]["nDCG@10"] for n in names], color="#55a868")
        b.invert_yaxis()
        b.set_xlabel(f"nDCG@10, {report['general']['data']} (general domain)")
    if ablation:
        c = axes[0][panels - 1]
        names = list(ablation)
        c.barh(names, [ablation[n]["nDCG@10"] for n in names], color="#8172b2")
        reference = report["ablation"].get("gain_over", "base")
        base_value = systems.get(reference, {}).get("nDCG@10")
        if base_value is not None:
            c.axvline(base_value, color="black", linestyle="--", linewidth=1, label=reference)
            c.legend(fontsize=8, loc="lower right")
        c.invert_yaxis()
        c.set_xlabel(f"nDCG@10 held-out, ablation ({report['ablation']['minutes_each']} min each)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(out: Path, report: dict[str, Any]) -> None:
    """Write ``adapt_report.json``, ``.md`` and ``.png`` into ``out`` (each atomically)."""
    write_json_atomic(out / REPORT_JSON, report)
    tmp = out / (REPORT_MD + ".tmp")
    tmp.write_text(markdown(report), encoding="utf-8")
    tmp.replace(out / REPORT_MD)
    png = out / (REPORT_PNG + ".tmp.png")
    if plot(report, png):
        png.replace(out / REPORT_PNG)


__all__ = ["REPORT_JSON", "REPORT_MD", "REPORT_PNG", "write_report", "markdown", "plot", "write_json_atomic"]
