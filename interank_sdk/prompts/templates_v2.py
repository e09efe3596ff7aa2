"""Version 2 of the built-in prompts.

reasoning v2: small instruct models given v1 tend to write the marker at once
(an empty explanation). v2 asks for the explanation first, in so many words, and
starts the assistant's turn with ``Explanation:`` so the model begins there.

yesno v2: the document first, the query last. In a causal model the answer
position can only use what the tokens before it computed; with the query
after the document, the query's tokens attend to the document, and the
relevance of the pair is present at the answer position (a probe on the
answer position's hidden state finds much more of it with v2 than with v1:
docs/performance.md, "Prompt order").
"""

from __future__ import annotations

from . import PromptTemplate, register

YESNO_V2 = register(
    PromptTemplate(
        strategy="yesno",
        version="v2",
        system="Judge whether the Document answers the Query. Answer only yes or no.",
        user="<Document>: {passage}\n<Query>: {query}\n\nDoes the Document answer the Query? Answer yes or no.",
        assistant_prefix="",
    )
)

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
