"""The teacher's configs, typed: the replay teacher (stored labels, for training), an OpenAI-compatible server, the
labelling and generation prompt designs, and what ``scripts/label.py`` and ``scripts/generate.py`` accept."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from moddistill.data.listings import ReadSettings, parse_listing
from moddistill.data.policy import PolicySettings
from moddistill.data.records import Row, RowError
from moddistill.engines.settings import EngineSettings, ExistingInput
from moddistill.settings import (
    Bool,
    Count,
    ExistingFile,
    ExistingFiles,
    Int,
    Mapping_,
    PositiveInt,
    Settings,
    Text,
    TextList,
    distinct,
    wanted,
)
from moddistill.teacher.prompts import MODES as PROMPT_MODES

# how the request asks for JSON: a JSON schema, the schema in a json_object request, plain json_object, or nothing
STRUCTURED_OUTPUT = ("json_schema", "json_object_schema", "json_object", "none")
INTENTS = ("lookalike", "violation")  # what scripts/generate.py asks for: allowed look-alikes, disguised violations
Positive = Annotated[float, Field(gt=0)]
Temperature = Annotated[float, Field(ge=0, le=2)]


class ReplayTeacherSettings(Settings):
    backend: Literal["replay"]
    labels: ExistingFile
    expert_verdicts: ExistingFiles


class ServerSettings(Settings):
    """How ``OpenAIBackend`` reaches the server and what every request asks for."""

    base_url: Text
    model: Text
    concurrency: PositiveInt
    requests_per_minute: Positive | None
    tokens_per_minute: Positive | None
    timeout_s: Positive
    max_retries: Count
    backoff_base_s: Annotated[float, Field(ge=0)]
    backoff_max_s: Annotated[float, Field(ge=0)]
    structured_output: Literal[("auto", *STRUCTURED_OUTPUT)]
    logprobs: Bool
    top_logprobs: Annotated[int, Field(strict=True, ge=0, le=20)]
    max_tokens: PositiveInt
    extra_body: Mapping_


class OpenAITeacherSettings(ServerSettings):
    """The server, and how the labeller asks it (samples, temperatures, retries of unusable answers) and prices it."""

    backend: Literal["openai"]
    api_key_env: Text | None
    parse_retries: Count
    temperature: Temperature
    samples: PositiveInt
    sample_temperature: Temperature
    seed: Int | None
    prices: Mapping_


class GeneratorSettings(OpenAITeacherSettings):
    model: Text | None  # null: the model the server serves


class PromptSettings(Settings):
    name: Text
    mode: Literal[PROMPT_MODES]
    clauses: Bool
    examples: Count | None
    lookalikes: Count | None
    system: Text
    user: Text


class GeneratePromptSettings(Settings):
    name: Text
    system: Text
    user: Text
    lookalike: Text
    violation: Text
    language_names: Mapping_
    clauses: Bool
    examples: Count | None
    lookalikes: Count | None


class Locale(Settings):
    """A language, market and currency a listing may carry: checked by the listing reader's own rules."""

    language: str
    market: str
    currency: str

    @field_validator("language", "market", "currency")
    @classmethod
    def _a_listing_may_carry_it(cls, value: Any, info) -> Any:
        fields = {"language": "en", "market": "US", "currency": "USD", info.field_name: value}
        try:
            parse_listing(Row("", "", {"id": "x", "title": "x", "description": "", "category": "x", "price": 0,
                                       **fields}))
        except RowError as e:
            raise PydanticCustomError("moddistill", e.reason) from None
        return value


class LabelSettings(ReadSettings):
    policy: PolicySettings
    teacher: OpenAITeacherSettings
    prompt: PromptSettings
    input: ExistingInput  # a file; with engine=ray also a directory of shards
    output: Text
    cache: Text | None
    progress: Bool
    engine: EngineSettings


class GenerateSettings(Settings):
    policy: PolicySettings
    teacher: GeneratorSettings
    generate_prompt: GeneratePromptSettings
    output: Text
    policies: TextList | None = wanted("null or a list of policy ids")
    intents: distinct(Literal[INTENTS])
    locales: list[Locale] = wanted("a non-empty list of language, market, currency", min_length=1)
    languages: TextList | None = wanted("null or a list of language codes")
    n_per_request: PositiveInt
    limit: PositiveInt | None
    cache: Text | None
    progress: Bool
    report_labels: ExistingFile | None
