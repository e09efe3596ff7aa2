"""Version 1 of the built-in prompts."""

from __future__ import annotations

from . import PromptTemplate, register

YESNO_V1 = register(
    PromptTemplate(
        strategy="yesno",
        version="v1",
        system="Judge whether the Document meets the requirements based on the Query provided. "
        'Note that the answer can only be "yes" or "no".',
        user="<Query>: {query}\n<Document>: {passage}\n\nDoes the Document answer the Query? Answer yes or no.",
        assistant_prefix="",
    )
)

GRADED_V1 = register(
    PromptTemplate(
        strategy="graded",
        version="v1",
        system="You are a search relevance judge. Given a question and a document, rate how relevant "
        "the document is to the question: 0 = irrelevant, 1 = partially relevant, 2 = relevant. "
        "Answer with the label only.",
        user="Question: {query}\n\nDocument: {passage}\n\nRelevance label (0, 1 or 2):",
        assistant_prefix="",
    )
)

# Query likelihood (UPR, Sachan et al. 2022): score a passage by how likely the
# model is to write the query after reading it. The query is the assistant's
# answer; its tokens are teacher-forced.
QLM_V1 = register(
    PromptTemplate(
        strategy="qlm",
        version="v1",
        system="You write search queries.",
        user="Passage: {passage}\n\nPlease write a question based on this passage.",
        assistant_prefix="",
    )
)

# InteRank (reasoning): the model explains, then writes the label after a
# fixed marker; the score is read from the label-token distribution at the
# position after the marker, never parsed from the text.
REASONING_V1 = register(
    PromptTemplate(
        strategy="reasoning",
        version="v1",
        system="You are a search relevance judge. Given a question and a document, explain briefly whether "
        "the document helps answer the question, then give a relevance label: 0 = irrelevant, "
        "1 = partially relevant, 2 = relevant. End your answer with 'Relevance Label: <0, 1 or 2> ##'.",
        user="Question: {query}\n\nDocument: {passage}\n\nExplain whether the document is relevant to the question, "
        "then end with 'Relevance Label: <label> ##'.",
        assistant_prefix="",
    )
)
