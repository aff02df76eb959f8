"""python manage.py backtest_risk [--folds N] [--horizon-days 90] [--seed S] — how well the churn-risk
score would have predicted the voluntary departures HR recorded, against a baseline of team size
plus past turnover (analytics/risk.py, ``risk_backtest``)."""

from __future__ import annotations

import argparse
import math

from django.core.management.base import BaseCommand, CommandError

from analytics.risk import Backtest, BacktestError, ModelBacktest, risk_backtest


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def _num(value: float, digits: int = 2) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"


class Command(BaseCommand):
    help = (
        "Rolling-origin backtest of the churn-risk score on the recorded voluntary departures: AUC, "
        "precision in the top decile, lead time and observed/expected by decile, against team size "
        "plus past turnover."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--folds", type=_positive, default=4, metavar="N", help="rolling origins (default 4)")
        parser.add_argument(
            "--horizon-days", type=_positive, default=90, metavar="DAYS", help="departures counted after each wave"
        )
        parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the bootstrap interval")

    def handle(self, *args: object, **options: object) -> None:
        try:
            result = risk_backtest(
                folds=options["folds"],
                horizon_days=options["horizon_days"],
                seed=options["seed"],
                progress=self.stderr.isatty(),
            )
        except BacktestError as exc:
            raise CommandError(str(exc)) from exc
        for line in report_lines(result):
            self.stdout.write(line)


def report_lines(result: Backtest) -> list[str]:
    h = result.horizon_days
    lines = [f"Rolling-origin backtest of the churn-risk score: {len(result.folds)} folds, {h}-day horizon"]
    for i, fold in enumerate(result.folds, 1):
        lines.append(
            f"  fold {i}: origin {fold.origin:%Y-%m-%d}, fitted on {fold.train_rows} team-waves "
            f"({fold.train_departures} departures counted over their horizons), tested on {fold.test_rows} "
            f"team-waves of {fold.test_waves} wave{'s' if fold.test_waves != 1 else ''}"
        )
    lines.append(
        f"Tested: {result.rows} team-waves of {result.teams} teams, {result.positives} with a voluntary departure "
        f"within {h} days; {result.departures} departures fell within a tested horizon"
    )
    model, base = result.model, result.baseline
    rows = [
        ("AUC", _num(model.auc), _num(base.auc)),
        ("Precision in the top decile", _num(model.precision_top_decile), _num(base.precision_top_decile)),
        ("Lead time, median (days)", _num(model.lead_days_median, 0), _num(base.lead_days_median, 0)),
        ("Departures flagged ahead", _flagged(model), _flagged(base)),
    ]
    lines.append("")
    width = max(14, *(len(x) + 2 for _, a, b in rows for x in (a, b)))
    lines.append(f"{'':<30}{'risk score':>{width}}{'baseline':>{width}}   (baseline: team size + past turnover)")
    lines.extend(f"{name:<30}{a:>{width}}{b:>{width}}" for name, a, b in rows)
    diff = result.auc_difference
    lines.append("")
    lines.append(
        f"AUC difference (risk score − baseline): {diff.estimate:+.3f}, {round(100 * diff.level)} % team-cluster "
        f"bootstrap interval [{_num(diff.low, 3)}, {_num(diff.high, 3)}] ({diff.replicates} resamples, seed "
        f"{result.seed})"
    )
    for fit in (model, base):
        lines.append("")
        lines.append(f"Observed / expected departures by decile of the {_name(fit)}:")
        lines.append(f"{'decile':>8}{'team-waves':>12}{'expected':>10}{'observed':>10}{'ratio':>8}")
        cal = fit.calibration
        for d, n, e, o, r in zip(cal.decile, cal.rows, cal.expected, cal.observed, cal.ratio, strict=True):
            lines.append(f"{d:>8}{n:>12}{e:>10.1f}{o:>10.0f}{_num(r):>8}")
    return lines


def _flagged(fit: ModelBacktest) -> str:
    scored = fit.departures_flagged + fit.departures_missed
    text = f"{fit.departures_flagged} of {scored}"
    return text + (f" (+{fit.departures_unscored} unscored)" if fit.departures_unscored else "")


def _name(fit: ModelBacktest) -> str:
    return "risk score" if fit.name == "model" else "baseline"
