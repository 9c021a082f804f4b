"""Watch drift: python scripts/drift.py reference=LISTINGS current=LISTINGS [export_dir=E] [output=DIR]
(conf/drift.yaml). Exit 0: no check alerts; 3 (drift.EXIT_DRIFT_ALERT): some check alerts; 2: a user error."""

import sys

import hydra
from omegaconf import DictConfig

from moddistill.cli import run, user_errors
from moddistill.config_checks import checked
from moddistill.loop.drift import EXIT_DRIFT_ALERT, REPORT_FILE, drift_files


@hydra.main(config_path="../conf", config_name="drift", version_base="1.3")
@user_errors
@checked("drift")
def main(cfg: DictConfig) -> None:
    result, output = drift_files(cfg)
    checks = result["checks"]
    alerts = [c for c in checks if c["status"] == "alert"]
    print(f"drift {result['status']}: {len(alerts)} alert(s), {sum(c['status'] == 'warn' for c in checks)} "
          f"warning(s) in {len(checks)} checks ({result['reference']['listings']} reference listings, "
          f"{result['current']['listings']} current)")
    for c in alerts:
        print(f"  ALERT {c['check']}: {c['measure']} {c['value']:.4f} (alert at {c['alert']:g})")
    print(f"report: {output / REPORT_FILE}")
    if alerts:
        sys.exit(EXIT_DRIFT_ALERT)


if __name__ == "__main__":
    run(main)
