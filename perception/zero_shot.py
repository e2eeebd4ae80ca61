"""Zero-shot part states: CLIP or SigLIP scores of part crops against part-state prompts.

Each part state of the scorer's ontology (the 93 of HAKE, then any an extension adds)
becomes a text prompt (:func:`prompt_for`), embedded once per model and cached (in memory,
and on disk when ``cache_dir`` is given; the disk key hashes the prompts, so each ontology
has its own file). A part state an extension adds ("hand: wave") is scored from its text
alone, like HAKE's own. Each fine-part box is cropped from the image and embedded; scores
are the scaled cosine similarities.

- CLIP (softmax-trained): per fine part, a softmax over its coarse part's states
  (including ``no_interaction``); a coarse part's probability for a state is the max over
  its fine parts (HAKE merges sides by OR). The probabilities of a part's states sum to 1
  per fine part: zero-shot CLIP ranks states, it does not calibrate each one.
- SigLIP (sigmoid-trained, detected by a ``logit_bias`` parameter): each state gets its
  own sigmoid probability, again max over sides.

A fine part's activity probability is ``1 - p(no_interaction)`` of its coarse part's
states for that fine part.

Shapes: ``score(crops)`` takes ``P`` persons x 10 part crops and returns part-state
probabilities ``(P, S)`` (``S`` part states of the ontology, 93 for the packaged one) and
active-part probabilities ``(P, 10)``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ontology
from ontology import Box, Ontology, load
from ontology.files import atomic_write
from perception._loading import load_checkpoint, quiet_transformers, resolve_device, resolve_dtype

if TYPE_CHECKING:
    import torch
    from PIL import Image

__all__ = [
    "DEFAULT_CLIP",
    "NO_INTERACTION_TEMPLATE",
    "PROMPT_TEMPLATE",
    "ZeroShotPartStates",
    "gerund",
    "prompt_for",
]

#: The default zero-shot checkpoint (Hugging Face Hub id).
DEFAULT_CLIP = "openai/clip-vit-base-patch32"
#: Prompt of a part state; ``{part}`` is the coarse part, ``{verb}`` the verb phrase as a
#: gerund ("sit on" -> "sitting on").
PROMPT_TEMPLATE = "a photo of a person's {part} {verb}"
#: Prompt of a part's ``no_interaction`` state.
NO_INTERACTION_TEMPLATE = "a photo of a person's {part} not interacting with anything"

#: Verb phrases the gerund rule gets wrong.
_GERUNDS = {
    "martial art": "doing martial arts",
    "shoulder carry": "carrying something on the shoulder",
    "raise(over head)": "raising something over the head",
    "is close with": "being close with",
}
#: One vowel then one consonant doubles the consonant ("sit" -> "sitting"); "qu" is a
#: consonant ("squat" -> "squatting").
_DOUBLE = re.compile(r"^(?:qu|[^aeiou])*[aeiou][^aeiouwxy]$")


def gerund(phrase: str) -> str:
    """``"sit on"`` -> ``"sitting on"``: the first word of a verb phrase as a gerund.

    >>> [gerund(p) for p in ("hold", "sit in", "ride", "be close with", "tread on", "lie", "squat")]
    ['holding', 'sitting in', 'riding', 'being close with', 'treading on', 'lying', 'squatting']
    """
    if phrase in _GERUNDS:
        return _GERUNDS[phrase]
    verb, _, rest = phrase.partition(" ")
    if verb == "be":
        ing = "being"
    elif verb.endswith("ie"):
        ing = verb[:-2] + "ying"
    elif verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        ing = verb[:-1] + "ing"
    elif _DOUBLE.match(verb):
        ing = verb + verb[-1] + "ing"
    else:
        ing = verb + "ing"
    return f"{ing} {rest}".strip()


def prompt_for(state: ontology.PartState, template: str = PROMPT_TEMPLATE) -> str:
    """The text prompt of one part state: its coarse part and its verb phrase (from the
    term's name), for HAKE's states and an extension's alike.

    >>> prompt_for(ontology.load().part_states["hand: hold"])
    "a photo of a person's hand holding"
    >>> prompt_for(ontology.load().part_states["hip: no_interaction"])
    "a photo of a person's hip not interacting with anything"
    >>> prompt_for(ontology.load(ontology.example_extension()).part_states["leg: squat"])
    "a photo of a person's leg squatting"
    """
    if state.no_interaction:
        return NO_INTERACTION_TEMPLATE.format(part=state.part)
    return template.format(part=state.part, verb=gerund(state.verb_phrase))


def _features(out: Any) -> torch.Tensor:
    """``get_*_features`` returns a tensor in older releases, an output object in newer."""
    import torch

    if isinstance(out, torch.Tensor):
        return out
    pooled: torch.Tensor = out.pooler_output
    return pooled


class ZeroShotPartStates:
    """Zero-shot part-state scorer on a CLIP-like model (``AutoModel`` with
    ``get_image_features`` / ``get_text_features``).

    Args:
        model, processor, tokenizer: loaded CLIP/SigLIP model, its image processor (PIL
            backend) and tokenizer.
        name: checkpoint name (cache key and provenance).
        device, half: where and in which precision it runs.
        batch_size: crops per forward pass.
        template: the prompt template (see :data:`PROMPT_TEMPLATE`).
        cache_dir: where text embeddings are cached across runs (``None``: memory only).
        ontology: the part states to score, one prompt each (``None``: the packaged
            ontology, 93 states).
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        tokenizer: Any,
        name: str = "clip",
        device: str = "auto",
        half: bool = False,
        batch_size: int = 64,
        template: str = PROMPT_TEMPLATE,
        cache_dir: str | os.PathLike[str] | None = None,
        ontology: Ontology | None = None,
    ) -> None:
        self.ontology = load() if ontology is None else ontology
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(self.device, half)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.processor = processor
        self.tokenizer = tokenizer
        self.name = name
        self.batch_size = batch_size
        self.template = template
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.sigmoid = hasattr(model, "logit_bias")
        self._text: torch.Tensor | None = None

    @classmethod
    def from_pretrained(
        cls,
        name: str | os.PathLike[str] = DEFAULT_CLIP,
        device: str = "auto",
        half: bool = False,
        batch_size: int = 64,
        template: str = PROMPT_TEMPLATE,
        cache_dir: str | os.PathLike[str] | None = None,
        ontology: Ontology | None = None,
    ) -> ZeroShotPartStates:
        """Load model, image processor (PIL backend) and tokenizer by Hub id or directory;
        ``ontology`` as in the constructor."""
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        quiet_transformers()
        model = load_checkpoint("zero-shot part-state", name, AutoModel.from_pretrained)
        processor = load_checkpoint(
            "zero-shot image processor", name, AutoImageProcessor.from_pretrained, backend="pil"
        )
        tokenizer = load_checkpoint("zero-shot tokenizer", name, AutoTokenizer.from_pretrained)
        return cls(
            model, processor, tokenizer, str(name), device, half, batch_size, template, cache_dir, ontology
        )

    def prompts(self) -> list[str]:
        """One prompt per part state of :attr:`ontology`, in its part-state order."""
        return [prompt_for(s, self.template) for s in self.ontology.part_states]

    def text_embeddings(self) -> torch.Tensor:
        """L2-normalised prompt embeddings ``(S, D)``, computed once and cached."""
        import torch

        if self._text is not None:
            return self._text
        prompts = self.prompts()
        key = hashlib.sha256(("\n".join([self.name, *prompts])).encode()).hexdigest()[:16]
        cache = None if self.cache_dir is None else self.cache_dir / f"text-{key}.pt"
        if cache is not None and cache.exists():
            emb = torch.load(cache, map_location="cpu", weights_only=True)
        else:
            # SigLIP was trained on max_length-padded text; CLIP pads to the longest prompt.
            padding = "max_length" if self.sigmoid else True
            tokens = self.tokenizer(prompts, padding=padding, truncation=True, return_tensors="pt")
            tokens = {k: v.to(self.device) for k, v in tokens.items()}
            with torch.inference_mode():
                emb = _features(self.model.get_text_features(**tokens)).float()
            emb = torch.nn.functional.normalize(emb, dim=-1).cpu()
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(cache, "wb") as fh:  # a concurrent reader never sees half a file
                    torch.save(emb, fh)
        self._text = emb.to(self.device)
        return self._text

    def image_embeddings(self, crops: Sequence[Image.Image]) -> torch.Tensor:
        """L2-normalised embeddings ``(len(crops), D)`` of image crops."""
        import torch

        chunks = []
        for start in range(0, len(crops), self.batch_size):
            inputs = self.processor(images=list(crops[start : start + self.batch_size]), return_tensors="pt")
            pixels = inputs["pixel_values"].to(self.device, self.dtype)
            with torch.inference_mode():
                chunks.append(_features(self.model.get_image_features(pixel_values=pixels)))
        emb = torch.cat(chunks).float()
        return torch.nn.functional.normalize(emb, dim=-1)

    def score(
        self, image: Image.Image, part_boxes: Sequence[Sequence[Box]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Part-state and active-part probabilities of the persons in one image.

        Args:
            image: the RGB image.
            part_boxes: per person, 10 fine-part boxes in ontology order (pixels).

        Returns:
            ``(states (P, S), active (P, 10))`` probabilities on CPU, ``S`` the part states
            of :attr:`ontology` in its order.
        """
        [result] = self.score_many([image], [part_boxes])
        return result

    def score_many(
        self, images: Sequence[Image.Image], part_boxes: Sequence[Sequence[Sequence[Box]]]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`score` for several images, with the crops of all of them batched together."""
        import torch

        onto = self.ontology
        crops = []
        counts = []
        for image, persons in zip(images, part_boxes, strict=True):
            counts.append(len(persons))
            for boxes in persons:
                if len(boxes) != len(onto.body_parts):
                    raise ValueError(f"expected {len(onto.body_parts)} part boxes, got {len(boxes)}")
                for b in boxes:
                    x1, y1 = int(b.x1), int(b.y1)
                    x2, y2 = max(int(round(b.x2)), x1 + 1), max(int(round(b.y2)), y1 + 1)
                    crops.append(image.crop((x1, y1, x2, y2)))
        n_persons = sum(counts)
        if n_persons == 0:
            empty = (torch.zeros(0, len(onto.part_states)), torch.zeros(0, len(onto.body_parts)))
            return [empty for _ in images]
        img = self.image_embeddings(crops).view(n_persons, 10, -1)  # (P, 10, D)
        text = self.text_embeddings()  # (S, D)
        scale = self.model.logit_scale.exp().float()
        logits = torch.einsum("pfd,sd->pfs", img, text) * scale  # (P, 10, S)
        if self.sigmoid:
            logits = logits + self.model.logit_bias.float()
        states = torch.zeros(n_persons, len(onto.part_states), device=logits.device)
        active = torch.zeros(n_persons, len(onto.body_parts), device=logits.device)
        for coarse in onto.coarse_parts:
            idx = [s.index for s in onto.part_states_of(coarse.id)]
            none = [k for k, s in enumerate(onto.part_states_of(coarse.id)) if s.no_interaction]
            fine = [p.index for p in onto.body_parts if p.coarse == coarse.id]
            part_logits = logits[:, fine][:, :, idx]  # (P, n_fine, S_c)
            if self.sigmoid:
                probs = torch.sigmoid(part_logits)
            else:
                probs = torch.softmax(part_logits, dim=-1)
            states[:, idx] = probs.max(dim=1).values
            if none:
                active[:, fine] = 1.0 - probs[..., none[0]]
            else:
                active[:, fine] = probs.max(dim=-1).values
        states, active = states.clamp(0, 1).cpu(), active.clamp(0, 1).cpu()
        return list(zip(torch.split(states, counts), torch.split(active, counts), strict=True))
