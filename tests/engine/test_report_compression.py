"""The compression tables of report.md and report.html score variants on the primary metric in the
direction the task type declares (perplexity: lower is better, so a rise is a loss)."""

from __future__ import annotations

import re

from autoglm_core.engine.report import compression_table, metric_lost
from autoglm_core.engine.report_html import section_compression
from autoglm_core.types.schemas import (
    Objectives,
    PipelineConfig,
    RunReport,
    StageResult,
    TaskSpec,
    VariantResult,
)


def report(task_type, metric, base, compressed):
    stage = StageResult(key="c0/compress/int8", stage="compress", candidate="c0", started_at="t", finished_at="t",
                        duration_s=1.0)
    variants = [VariantResult(candidate="c0", variant="fine-tuned", backbone="b", metrics={metric: base},
                              latency_ms={"1": 2.0}, size_mb=4.0),
                VariantResult(candidate="c0", variant="int8", backbone="b", metrics={metric: compressed},
                              latency_ms={"1": 1.0}, size_mb=1.0)]
    spec = TaskSpec(task_type=task_type, metric=metric, objectives=Objectives(primary_metric=metric))
    return RunReport(run_dir="/tmp/r", spec=spec, config=PipelineConfig(), candidates=[], stages=[stage],
                     variants=variants, started_at="t")


def cells(page):
    return re.findall(r"<td[^>]*>([^<]*)</td>", page)


def test_a_perplexity_rise_is_a_loss_in_html_and_markdown():
    r = report("text_generation", "perplexity", 20.0, 25.0)
    page = section_compression(r)
    assert "perplexity lost" in page and "accuracy" not in page and "(points)" not in page
    assert cells(page)[:3] == ["c0", "int8", "+5.0"] and "2.00x" in cells(page)
    md = compression_table(r, higher_is_better=False)
    assert "| perplexity lost |" in md and "| c0 | int8 | +5.0 |" in md


def test_a_lower_perplexity_is_a_gain():
    page = section_compression(report("text_generation", "perplexity", 20.0, 18.5))
    assert cells(page)[2] == "-1.5"


def test_an_f1_primary_metric_is_scored_in_points():
    r = report("token_classification", "f1", 0.80, 0.78)
    page = section_compression(r)
    assert "f1 lost (points)" in page and cells(page)[2] == "+2.0"
    v, base = r.variants[1], r.variants[0]
    assert round(metric_lost(v, base, "f1", True), 6) == 2.0
    assert metric_lost(v, base, "accuracy", True) is None  # not measured: no made-up zero
