"""What ``conf/engine/`` accepts, typed: ``engine=local`` (one process, the default) or ``engine=ray`` (a Ray Data job
over a directory of shards). Ray itself is imported only when a ray job runs (``pip install 'moddistill[ray]'``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from moddistill.settings import Count, PositiveInt, Settings, Text

ENGINES = ("local", "ray")


class EngineSettings(Settings):
    name: Literal[ENGINES]
    # null: start a Ray instance in this process sized by num_cpus; auto: the cluster this machine is part of
    # (RAY_ADDRESS or the one `ray start` left here); ray://host:port: a remote cluster through Ray Client
    address: Text | None
    num_cpus: PositiveInt | None
    concurrency: PositiveInt
    reserve_cpus: Annotated[float, Field(ge=0)]
    max_retries: Count
    cache_dir: Text | None
    requests_per_minute: Annotated[float, Field(gt=0)] | None


def _existing_file_or_dir(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError("moddistill", "expected the path of an existing file or directory of shards")
    if not Path(value).exists():
        raise PydanticCustomError("moddistill", "no such file or directory")
    return value


# a job's input: one file (either engine), or a directory of shards (engine=ray; engine=local refuses it by name)
ExistingInput = Annotated[str, BeforeValidator(_existing_file_or_dir)]
