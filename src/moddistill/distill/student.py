"""The student architecture: a pretrained encoder read by mean pooling, plus an optional hashed n-gram channel.

Why not ``AutoModelForSequenceClassification``: BERT's sequence classifier reads the CLS token through a
pooler, and sentence encoders such as all-MiniLM-L6-v2 were trained to be read by mean pooling; on the sample
that choice alone moved full fine-tuning from 0.27 to 0.60 policy-case macro-F1. The n-gram channel is a
linear model over hashed character and word n-grams (``ngrams.py``) added to the encoder's logits, trained
jointly or fitted first and frozen (``ngram_fit.py``): it catches obfuscation and languages the encoder's
vocabulary cannot read, the encoder catches paraphrase. The class is registered with transformers' Auto
classes, so a saved student loads with ``AutoModelForSequenceClassification.from_pretrained(dir)`` once
``moddistill.distill.student`` is imported.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from moddistill.distill.ngrams import NgramSpec
from moddistill.distill.settings import POOLINGS

# all-MiniLM-style encoders emit unit-length sentence embeddings; this scale gives a randomly initialised
# linear head logits of a useful size from the first step.
POOLED_SCALE = 10.0


class StudentConfig(PretrainedConfig):
    model_type = "moddistill_student"

    def __init__(self, encoder: dict | None = None, pooling: str = "mean", ngram: dict | None = None,
                 encoder_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.encoder = dict(encoder or {})
        self.pooling = pooling
        self.ngram = dict(ngram) if ngram else None
        # the encoder's logits are scaled by this before the n-gram channel's are added: 1 while training, then
        # chosen on validation (ngram_fit.fit_encoder_weight)
        self.encoder_weight = float(encoder_weight)

    @property
    def ngram_spec(self) -> NgramSpec | None:
        return NgramSpec.from_dict(self.ngram) if self.ngram else None


class NgramChannel(nn.Module):
    """Per-policy logits from a bag of hashed n-grams: sum of bucket weights x (tf weight x idf), L2-normalised.

    The IDF of each bucket is fitted on the training texts (``fit_idf``) and saved with the weights, so the
    featurizer itself needs no fitted vocabulary. Unfitted, every IDF is 1 (plain sublinear tf).
    """

    def __init__(self, buckets: int, num_labels: int):
        super().__init__()
        self.bag = nn.EmbeddingBag(buckets, num_labels, mode="sum")
        self.bias = nn.Parameter(torch.zeros(num_labels))
        self.register_buffer("idf", torch.ones(buckets))

    def fit_idf(self, ids: list[list[int]]) -> None:
        df = torch.zeros_like(self.idf)
        for bag in ids:
            df[torch.tensor(bag, dtype=torch.long)] += 1
        self.idf.copy_(torch.log((1 + len(ids)) / (1 + df)) + 1)

    def forward(self, ngram_ids: torch.Tensor, ngram_weights: torch.Tensor) -> torch.Tensor:
        w = ngram_weights.to(self.bag.weight.dtype) * self.idf[ngram_ids]
        w = w / w.norm(dim=1, keepdim=True).clamp(min=1e-12)
        # A gather and a weighted sum rather than EmbeddingBag's own forward: the same sum, and it exports to
        # ONNX as Gather + ReduceSum instead of a loop over the batch.
        return (self.bag.weight[ngram_ids] * w.unsqueeze(-1)).sum(1) + self.bias


class StudentModel(PreTrainedModel):
    config_class = StudentConfig
    base_model_prefix = "student"
    main_input_name = "input_ids"

    def __init__(self, config: StudentConfig):
        super().__init__(config)
        enc = dict(config.encoder)
        self.encoder = AutoModel.from_config(AutoConfig.for_model(enc.pop("model_type"), **enc))
        if getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = None  # read by pooling over tokens, not through BERT's CLS pooler
        hidden = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(hidden, config.num_labels)
        spec = config.ngram_spec
        self.ngram = NgramChannel(spec.buckets, config.num_labels) if spec else None
        self.post_init()

    def _init_weights(self, module):
        if module is self.classifier:
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif self.ngram is not None and module is self.ngram.bag:
            nn.init.zeros_(module.weight)  # the channel starts silent and learns what the encoder misses

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, ngram_ids=None, ngram_weights=None,
                ngram_offset=None, labels=None, **kwargs) -> SequenceClassifierOutput:
        """``ngram_offset`` (training in stacked mode): out-of-fold n-gram logits used instead of the channel's."""
        enc_kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            enc_kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**enc_kwargs).last_hidden_state
        if self.config.pooling == "mean":
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            pooled = F.normalize(pooled.float(), dim=-1) * POOLED_SCALE
        else:
            pooled = hidden[:, 0].float()
        logits = self.classifier(self.dropout(pooled).to(self.classifier.weight.dtype)).float()
        if self.config.encoder_weight != 1.0:
            logits = logits * self.config.encoder_weight
        if ngram_offset is not None:
            logits = logits + ngram_offset.float()
        elif self.ngram is not None:
            if ngram_ids is None:
                raise ValueError("this student has an n-gram channel: pass ngram_ids and ngram_weights")
            logits = logits + self.ngram(ngram_ids, ngram_weights).float()
        return SequenceClassifierOutput(logits=logits)


AutoConfig.register(StudentConfig.model_type, StudentConfig)
AutoModelForSequenceClassification.register(StudentConfig, StudentModel)


def build_student(encoder_path: str | None, encoder_config: dict | None, label_maps: dict, *, pooling: str,
                  ngram: NgramSpec | None) -> StudentModel:
    """A student on a pretrained encoder (``encoder_path``), or on fresh weights from ``encoder_config`` (tests)."""
    if encoder_path:
        encoder = AutoModel.from_pretrained(encoder_path)
        enc_cfg = encoder.config.to_dict()
    else:
        enc_cfg = dict(encoder_config)
        encoder = None
    keep = {k: v for k, v in enc_cfg.items() if k not in ("architectures", "_name_or_path", "transformers_version",
                                                         "id2label", "label2id", "num_labels", "problem_type")}
    config = StudentConfig(encoder=keep, pooling=pooling, ngram=ngram.to_dict() if ngram else None, **label_maps)
    model = StudentModel(config)
    if encoder is not None:
        missing, unexpected = model.encoder.load_state_dict(encoder.state_dict(), strict=False)
        if [m for m in missing if "pooler" not in m]:
            raise ValueError(f"{encoder_path}: encoder weights missing for {missing[:5]}")
    return model
