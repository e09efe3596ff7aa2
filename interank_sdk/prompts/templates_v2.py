"""Version 2 of the built-in prompts.

reasoning v2: small instruct models given v1 tend to write the marker at once
(an empty explanation). v2 asks for the explanation first, in so many words, and
starts the assistant's turn with ``Explanation:`` so the model begins there.
"""

from __future__ import annotations

from . import PromptTemplate, register

REASONING_V2 = register(
    PromptTemplate(
        strategy="reasoning",
        version="v2",
        system="You are a search relevance judge. Given a question and a document, you explain in one or two "
        "sentences whether the document helps answer the question, then give a relevance label: "
        "0 = irrelevant, 1 = partially relevant, 2 = relevant.",
        user="Question: {query}\n\nDocument: {passage}\n\nFirst explain in one or two sentences what the document "
        "says and whether it answers the question. Then, on a new line, write 'Relevance Label: <0, 1 or 2> ##'.",
        assistant_prefix="Explanation:",
    )
)
