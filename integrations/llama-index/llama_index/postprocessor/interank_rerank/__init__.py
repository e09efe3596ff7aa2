"""LlamaIndex node postprocessor backed by the InteRank reranker.

Example:
    >>> from llama_index.postprocessor.interank_rerank import InteRankRerank
    >>> rerank = InteRankRerank(model="Qwen/Qwen2.5-0.5B-Instruct", top_n=5)  # doctest: +SKIP
"""

from llama_index.postprocessor.interank_rerank.base import EXPLANATION_KEY, RETRIEVAL_SCORE_KEY, InteRankRerank

__all__ = ["InteRankRerank", "EXPLANATION_KEY", "RETRIEVAL_SCORE_KEY"]
