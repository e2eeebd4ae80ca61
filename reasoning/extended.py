"""A checkpoint run on a larger ontology: shared terms mapped, new activities scored zero-shot.

A reasoner is trained on one ontology (the packaged HAKE ontology for the packaged
checkpoint). An extension appends part states, verbs, objects and activities; the trained
model cannot see the new input channels nor score the new activities.
:class:`ExtendedReasoner` puts the two together for an ontology ``T`` that extends the
checkpoint's ontology ``B`` (every term list of ``B`` is a prefix of ``T``'s):

- **Shared activities** are scored by the trained model on the shared channels of each input
  row (``T``'s row restricted to ``B``'s part states, body parts and objects): their scores
  and explanations are exactly the checkpoint's.
- **New atomic activities** (with a verb) are scored from their definitions, a fixed linear
  rule (not learnt; the defaults below)::

      logit_a = BIAS + GAIN * sum_s (w_s / sum w) x_s  [+ OBJECT_GAIN * x_o  for an interaction]

  ``w_s`` are the activity's characteristic part states (``part_states`` in the extension);
  without them, its verb's; without those and for a verb of ``B``, the part states with the
  highest positive NPMI towards the verb in the checkpoint's training evidence (at most 5,
  weighted by NPMI). ``GAIN`` is :data:`INTERACTION_GAIN` for an interaction and
  :data:`PERSON_ONLY_GAIN` for a person-only action, so that a person showing every
  characteristic part state (and the object) scores ``sigmoid(3) = 0.95`` either way, and one
  showing none scores ``sigmoid(BIAS) = 0.0025``. The explanation is exact: each part state's
  contribution is its term of the sum, the object's ``OBJECT_GAIN * x_o``, the baseline
  ``BIAS``. Label embeddings are not used. The weights are normalised, so a definition
  dominated by one part state is met by anyone showing that state (``bow``: ``hip: bend``
  1.0, ``head: no_interaction`` 0.2, scores 0.5 for a squatting person whose hips bend 0.8);
  write definitions with two or more characteristic states.
- **Composites** (no verb) are scored by the hierarchy rule: a composite's logit is the
  largest logit of the atomic activities under it, at any depth, so a composite is never less
  likely than anything under it. Its explanation is that activity's.

What was measured: nothing on real data yet for the new activities (the extension's
activities have no annotated examples in HAKE); the tests check the rule, the exactness of
the explanations and that the shared activities' scores equal the checkpoint's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ontology import Ontology, PersonObservation
from ontology.errors import ReasoningError
from reasoning.batch import DEFAULT_MIN_SHARE, PredictionBatch
from reasoning.features import encode_observations, input_layout

if TYPE_CHECKING:
    from ontology import ActivityPrediction
    from reasoning.reasoner import ActivityReasoner

__all__ = ["BIAS", "INTERACTION_GAIN", "OBJECT_GAIN", "PERSON_ONLY_GAIN", "ExtendedReasoner"]

#: Logit of a new activity for a person showing none of its evidence.
BIAS = -6.0
#: Weight of the (weight-normalised) characteristic part states of a new interaction ...
INTERACTION_GAIN = 6.0
#: ... and of its object's detection score.
OBJECT_GAIN = 3.0
#: Weight of the characteristic part states of a new person-only action.
PERSON_ONLY_GAIN = 9.0
#: Part states taken from the training evidence of a packaged verb (when nothing is defined).
EVIDENCE_STATES = 5


class ExtendedReasoner:
    """``base`` (trained on its ontology) run on ``ontology``, which must extend it.

    Offers what the engine uses of an :class:`~reasoning.ActivityReasoner`: ``predict_rows``
    (rows in ``ontology``'s layout), ``predict``, ``name``, ``version``,
    ``attribution_method`` and ``evidence``.
    """

    def __init__(self, base: ActivityReasoner, ontology: Ontology) -> None:
        trained = base.ontology
        if not trained.is_subset_of(ontology):
            raise ReasoningError(
                f"the reasoner was trained on ontology {trained.id} (version {trained.version}), which "
                f"{ontology.id} (version {ontology.version}) does not extend: shared terms must keep "
                "their channels; re-train on the new ontology"
            )
        self.base = base
        self.ontology = ontology
        self.layout = input_layout(ontology)
        base_lay = input_layout(trained)
        n_ps, n_bp = self.layout.n_part_states, self.layout.n_body_parts
        #: the row positions of the base layout's channels in this ontology's row
        self.base_channels = torch.tensor(
            [*range(base_lay.n_part_states)]
            + [n_ps + i for i in range(base_lay.n_body_parts)]
            + [n_ps + n_bp + i for i in range(base_lay.n_objects)]
        )
        self.n_base = base_lay.n_activities
        self._verb_npmi: torch.Tensor | None = None  # the checkpoint's, computed when first needed
        self.weights, self.bias = self._definition_rows(trained)
        self._source = self._best_descendant_index()

    # ---- the engine's reasoner interface ----------------------------------------------

    @property
    def name(self) -> str:
        # the checkpoint's own ontology (composites by the hierarchy rule) adds nothing zero-shot
        return (
            self.base.name if self.n_base == len(self.ontology.activities) else f"{self.base.name}+zero-shot"
        )

    @property
    def version(self) -> str:
        if self.n_base == len(self.ontology.activities):
            return self.base.version
        return f"{self.base.version}+{self.ontology.id.removeprefix('sha256:')}"

    @property
    def evidence(self) -> Any:
        return self.base.evidence

    @property
    def attribution_method(self) -> str:
        return self.base.attribution_method

    def for_ontology(self, onto: Ontology) -> ActivityReasoner | ExtendedReasoner:
        """This reasoner for rows of ``onto`` (the checkpoint on it)."""
        return self if onto == self.ontology else self.base.for_ontology(onto)

    # ---- the rule ------------------------------------------------------------------------

    def _definition(self, activity_index: int, trained: Ontology) -> list[tuple[int, float]]:
        """(part-state channel, weight) of a new atomic activity (see the module docstring)."""
        onto = self.ontology
        a = onto.activities[activity_index]
        assert a.verb is not None
        pairs = a.part_states or onto.verbs[a.verb].part_states
        if pairs:
            return [(onto.part_states[s].index, w) for s, w in pairs]
        trained_verb = trained.verbs.id_by_key.get(a.verb)
        if trained_verb is not None:
            if self._verb_npmi is None:
                self._verb_npmi = self.base.evidence.npmi_part_state_verb()
            scores = self._verb_npmi[:, trained.verbs[trained_verb].index]
            top = torch.topk(scores, min(EVIDENCE_STATES, scores.numel()))
            return [(int(i), float(v)) for v, i in zip(top.values, top.indices, strict=True) if float(v) > 0]
        return []

    def _definition_rows(self, trained: Ontology) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n_new, F)`` weights and ``(n_new,)`` biases of the new activities (0 rows for
        composites, which are scored from their descendants)."""
        onto = self.ontology
        n_new = len(onto.activities) - self.n_base
        weights = torch.zeros(n_new, self.layout.n_features)
        bias = torch.full((n_new,), BIAS)
        object_offset = self.layout.n_part_states + self.layout.n_body_parts
        for row, a in enumerate(list(onto.activities)[self.n_base :]):
            if a.is_composite:
                continue
            gain = PERSON_ONLY_GAIN if a.object is None else INTERACTION_GAIN
            pairs = self._definition(a.index, trained)
            total = sum(w for _, w in pairs)
            for channel, w in pairs:
                weights[row, channel] += gain * w / total
            if a.object is not None:
                weights[row, object_offset + onto.objects[a.object].index] = OBJECT_GAIN
        return weights, bias

    def _best_descendant_index(self) -> list[list[int]]:
        """Per activity, the atomic activities whose logits it takes the largest of (itself
        for an atomic one)."""
        acts = self.ontology.activities
        out = []
        for a in acts:
            if a.is_composite:
                out.append([d.index for d in acts.descendants(a.id) if not d.is_composite])
            else:
                out.append([a.index])
        return out

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n_activities)`` logits of rows in this ontology's layout."""
        return self._logits(x)[0]

    def _logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits, and per activity the atomic activity whose logit it is (itself, or a
        composite's best descendant), both ``(B, n_activities)``."""
        x = x.to(torch.float32)
        base = self.base.logits(x[:, self.base_channels].to(self.base.device)).cpu()
        new = x @ self.weights.T + self.bias
        atomic = torch.cat([base, new], dim=1)
        logits = atomic.clone()
        source = torch.arange(atomic.shape[1]).expand(x.shape[0], -1).clone()
        for index, members in enumerate(self._source):
            if self.ontology.activities[index].is_composite:
                if not members:
                    logits[:, index] = BIAS
                    continue
                members_t = torch.tensor(members)
                best = atomic[:, members_t].max(dim=1)
                logits[:, index] = best.values
                source[:, index] = members_t[best.indices]
        return logits, source

    def predict_rows(
        self,
        x: torch.Tensor,
        top_k: int = 5,
        explain: bool = True,
        paths: bool = False,
        min_share: float = DEFAULT_MIN_SHARE,
        batch_size: int = 4096,
    ) -> PredictionBatch:
        """As :meth:`ActivityReasoner.predict_rows <reasoning.ActivityReasoner.predict_rows>`,
        for rows in this ontology's layout (:func:`reasoning.encode_observations` with it)."""
        from reasoning.reasoner import check_prediction_options

        check_prediction_options(self.layout, x, top_k, min_share)
        if paths:
            raise ReasoningError(
                "paths=True is not available on an extended ontology (the rule has no paths)"
            )
        parts = [self._chunk(c, top_k, explain, float(min_share)) for c in torch.split(x, batch_size)]
        return PredictionBatch.concat(parts or [self._chunk(x[:0], top_k, explain, float(min_share))])

    def _chunk(self, x: torch.Tensor, top_k: int, explain: bool, min_share: float) -> PredictionBatch:
        from reasoning.reasoner import batch_from_dense

        x = x.to(torch.float32)
        logits, source = self._logits(x)
        top = logits.topk(top_k, dim=1)
        common: dict[str, Any] = {
            "model": self.name,
            "model_version": self.version,
            "activity_ids": self.layout.activity_ids,
            "activity_levels": self.layout.activity_levels,
            "channel_kinds": self.layout.channel_kinds,
            "channel_terms": self.layout.channel_terms,
            "activity": top.indices.numpy(),
            "score": torch.sigmoid(top.values).numpy(),
        }
        if not explain:
            return PredictionBatch(**common)
        atomic = source.gather(1, top.indices)  # (B, K) the activity each explanation is of
        is_base = atomic < self.n_base
        base_total, base_line = self.base.attribute_terms(
            x[:, self.base_channels], torch.where(is_base, atomic, 0).to(self.base.device)
        )
        contrib = torch.zeros(x.shape[0], top_k, self.layout.n_features)
        contrib[:, :, self.base_channels] = base_total.cpu()
        baseline = base_line.cpu()
        if self.weights.shape[0]:  # (none on the checkpoint's own ontology: composites only)
            new_rows = torch.where(is_base, 0, atomic - self.n_base)
            new_contrib = self.weights[new_rows] * x[:, None, :]  # (B, K, F)
            contrib = torch.where(is_base[..., None], contrib, new_contrib)
            baseline = torch.where(is_base, baseline, self.bias[new_rows])
        return batch_from_dense(
            common, contrib[None], baseline, self.attribution_method, (), min_share, top_k
        )

    def predict(
        self,
        observations: list[PersonObservation],
        top_k: int = 5,
        explain: bool = True,
        min_share: float = DEFAULT_MIN_SHARE,
    ) -> list[list[ActivityPrediction]]:
        """Records in (made with :attr:`ontology`), records out, as
        :meth:`ActivityReasoner.predict <reasoning.ActivityReasoner.predict>`."""
        x = encode_observations(observations, self.ontology)
        batch = self.predict_rows(x, top_k, explain, False, min_share)
        return batch.records([(o.image_key, o.person_id) for o in observations])
