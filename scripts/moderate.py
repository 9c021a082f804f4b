"""The fused moderator: python scripts/moderate.py export_dir=E input=I output=O teacher.base_url=URL
teacher.model=NAME [prompt=...] [cache=...] (conf/moderate.yaml). The export needs fusion rules (scripts/fuse.py)."""

import hydra
from omegaconf import DictConfig

from moddistill.cli import run, user_errors
from moddistill.config_checks import checked
from moddistill.engines.core import refuse_directory_for_local
from moddistill.fusion.moderate import moderate_file


@hydra.main(config_path="../conf", config_name="moderate", version_base="1.3")
@user_errors
@checked("moderate")
def main(cfg: DictConfig) -> None:
    if cfg.engine.name == "ray":
        from moddistill.fusion.sharded import moderate_sharded

        s = moderate_sharded(cfg)
        by = s["decided_by"]
        print(f"{s['listings']} listings -> {s['output']}/<shard>.jsonl ({s['shards']} shards, "
              f"{s['shards_skipped']} already written): student {by.get('student', 0)}, LLM {by.get('llm', 0)}, "
              f"experts {by.get('expert', 0)}")
        if s["llm_unreachable"]:
            print(f"LLM unreachable ({s['llm_unreachable']}): its routed listings went to the experts")
        cost = f"${s['estimated_cost']:.4f}" if s["estimated_cost"] is not None else "unknown (no price in teacher.prices)"
        print(f"LLM calls {s['llm_calls']} (listings served from cache {s['served_from_cache']}), tokens "
              f"{s['tokens_in']:,} in / {s['tokens_out']:,} out, estimated cost {cost}; wall {s['wall_s']:.1f} s")
        return
    refuse_directory_for_local(cfg.input)
    s = moderate_file(cfg)
    by = s["decided_by"]
    print(f"{s['listings']} listings -> {s['output']}: student {by['student']}, LLM {by['llm']}, experts {by['expert']}")
    if s["llm_unreachable"]:
        print(f"LLM unreachable ({s['llm_unreachable']}): its {s['routed_to_llm']} routed listings went to the experts")
    cost = f"${s['estimated_cost']:.4f}" if s["estimated_cost"] is not None else "unknown (no price in teacher.prices)"
    print(f"LLM calls {s['llm_calls']} (listings served from cache {s['served_from_cache']}), tokens "
          f"{s['tokens_in']:,} in / {s['tokens_out']:,} out, estimated cost {cost}")
    lat = s["latency"]
    print(f"wall {s['wall_s']:.1f} s; one listing: student p50 {lat['student']['p50_ms']} ms"
          + (f", LLM p50 {lat['llm']['p50_ms']} ms / p95 {lat['llm']['p95_ms']} ms" if lat["llm"] else "")
          + f"; moderation overhead {s['overhead_ms_per_listing']} ms per listing")


if __name__ == "__main__":
    run(main)
