"""Churn-risk backtest on simulated organisations: the model against the baseline (team size plus
past turnover), as ``manage.py backtest_risk`` prints it, over several seeds.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/bench_risk.py [--seeds 1 2 3] [--employees 3000] [--waves 26] [--folds 4]

For each seed, in its own database ``pulse_bench_risk`` (created and dropped; your data is never
opened): migrate, ``simulate_org`` (the organisation built through import, launch, intake, close
— every wave sealed and analysed, so the model sees only what the gate released; departures
recorded from the simulation's hazard on intent to stay, burnout and tenure), then
``analytics.risk.risk_backtest`` (rolling origins, 90-day horizon, a team-cluster bootstrap of
the AUC difference). Prints each seed's AUC, precision in the top decile, median lead time and
the AUC difference with its interval, then the seeds pooled (mean AUCs; how many intervals
exclude 0).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import PYTHON, ROOT, machine_note, throwaway_database

CHILD = """
import json, os, sys
import django
django.setup()
from django.core.management import call_command
from analytics.risk import risk_backtest
call_command("migrate", verbosity=0)
call_command("simulate_org", employees=int(sys.argv[1]), waves=int(sys.argv[2]), seed=int(sys.argv[3]),
             truth=os.devnull, stdout=open(os.devnull, "w"))
result = risk_backtest(folds=int(sys.argv[4]), seed=int(sys.argv[3]))
def model(m):
    return {"auc": m.auc, "top": m.precision_top_decile, "lead": m.lead_days_median,
            "flagged": m.departures_flagged, "missed": m.departures_missed}
print(json.dumps({"rows": result.rows, "teams": result.teams, "departures": result.departures,
                  "model": model(result.model), "baseline": model(result.baseline),
                  "diff": [result.auc_difference.estimate, result.auc_difference.low, result.auc_difference.high]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--employees", type=int, default=3000)
    parser.add_argument("--waves", type=int, default=26)
    parser.add_argument("--folds", type=int, default=4)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        sys.exit("bench_risk.py needs DATABASE_URL=postgres://... (it creates its own database there)")
    import json

    print(machine_note())
    print(f"simulate_org --employees {args.employees} --waves {args.waves}; backtest --folds {args.folds}")
    results = []
    for seed in args.seeds:
        with throwaway_database(base, "risk") as url:
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "DJANGO_SETTINGS_MODULE": "pulse.settings",
                "DEBUG": "1",  # the embedded seal key; a bench database only
                "PULSE_HTTPS": "0",
                "PYTHONPATH": str(ROOT),
                "LOG_LEVEL": "WARNING",
            }
            env.pop("REDIS_URL", None)  # eager Celery: each close analyses its wave in-process
            started = time.perf_counter()
            out = subprocess.run(
                [PYTHON, "-c", CHILD, str(args.employees), str(args.waves), str(seed), str(args.folds)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode:
                sys.exit(f"seed {seed} failed:\n{out.stderr[-3000:]}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["seconds"] = time.perf_counter() - started
            results.append(result)
            m, b, (d, lo, hi) = result["model"], result["baseline"], result["diff"]
            print(
                f"seed {seed}: {result['teams']} teams, {result['rows']} test team-waves, "
                f"{result['departures']} departures | AUC model {m['auc']:.3f} baseline {b['auc']:.3f} "
                f"difference {d:+.3f} [{lo:+.3f}, {hi:+.3f}] | top-decile precision {m['top']:.3f} vs {b['top']:.3f} "
                f"| median lead {m['lead']:.0f} days | flagged {m['flagged']} missed {m['missed']} "
                f"| {result['seconds']:.0f} s"
            )
    mean = lambda key, who: sum(r[who][key] for r in results) / len(results)  # noqa: E731
    excluding = sum(1 for r in results if r["diff"][1] > 0)
    print(
        f"pooled over {len(results)} seeds: AUC model {mean('auc', 'model'):.3f} vs baseline "
        f"{mean('auc', 'baseline'):.3f}; top-decile precision {mean('top', 'model'):.3f} vs "
        f"{mean('top', 'baseline'):.3f}; intervals excluding 0: {excluding} of {len(results)}"
    )


if __name__ == "__main__":
    main()
