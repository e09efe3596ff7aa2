"""LangChain integration of the InteRank reranker.

Example:
    >>> from langchain_interank import InteRankCompressor
    >>> compressor = InteRankCompressor(model="Qwen/Qwen2.5-0.5B-Instruct", top_n=5)  # doctest: +SKIP
"""

from langchain_interank.compressor import EXPLANATION_KEY, SCORE_KEY, InteRankCompressor

__all__ = ["InteRankCompressor", "SCORE_KEY", "EXPLANATION_KEY"]
