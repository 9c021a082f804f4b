"""The expert console (conf/review.yaml): a local web app to review the queued listings, and a KPI dashboard,
python scripts/review.py export_dir=EXPORT 'queues=[OUT.jsonl,SAMPLE.jsonl]' [listings=L.jsonl] [decisions=OUT.jsonl]
-> http://127.0.0.1:8765 (needs pip install 'moddistill[review]'). With label_studio.tasks=TASKS.json it writes the
queue as Label Studio tasks instead; with label_studio.export=EXPORT.json label_studio.verdicts=V.jsonl it turns
Label Studio's export into verdict JSONL."""

import hydra
from omegaconf import DictConfig

from moddistill.cli import run, user_errors
from moddistill.config import policy_from_cfg
from moddistill.config_checks import check_config
from moddistill.errors import UserError
from moddistill.review.console import open_console, review_policy


@hydra.main(config_path="../conf", config_name="review", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    settings = check_config(cfg, "review")
    ls = settings.label_studio
    if ls.export:
        from moddistill.review.label_studio import read_export

        if not ls.verdicts:
            raise UserError("label_studio.verdicts=VERDICTS.jsonl is required with label_studio.export=")
        policy, _ = review_policy(settings, policy_from_cfg(cfg))
        counts = read_export(ls.export, policy, ls.verdicts)
        print(f"{counts['verdicts']} verdicts from {counts['tasks']} tasks -> {ls.verdicts} "
              f"({counts['skipped']} skipped annotations left out)")
        return
    console = open_console(settings, policy_from_cfg(cfg))
    if ls.tasks:
        from moddistill.review.label_studio import write_tasks

        tasks, config = write_tasks(console.queue, console.policy, console.thresholds, ls.tasks)
        print(f"{len(console.queue.items)} tasks -> {tasks} (labelling config: {config})")
        return
    from moddistill.review.app import create_app, serve

    q = console.queue
    print(f"{len(q.items)} listings to review from {len(q.files)} file(s) "
          f"({q.not_for_experts} moderate.py rows not for experts); store {console.store.path}; "
          f"policy {console.policy.id} v{console.policy.version}")
    print(f"review console: http://{settings.host}:{settings.port}/" + ("?token=..." if console.token else ""))
    serve(create_app(console), settings.host, settings.port)


if __name__ == "__main__":
    run(main)
