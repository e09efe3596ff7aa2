"""Version 2 of the built-in prompts.

reasoning v2: small instruct models given v1 tend to write the marker at once
(an empty explanation). v2 asks for the explanation first, in so many words, and
starts the assistant's turn with ``Explanation:`` so the model begins there.

yesno v2: the document first, the query last. In a causal model the answer
position can only use what the tokens before it computed; with the query
after the document, the query's tokens attend to the document, and the
relevance of the pair is present at the answer position. Measured with the
demo model (Qwen2.5-Coder-0.5B, int8) on 12 DL19 queries, BM25 top-100
(BM25 alone 0.552 nDCG@10): zero-shot yes/no 0.460 with v2; a logistic
probe on the answer position's layer-16 state, fitted on 1,590 DL21
judgments, 0.658 with v2 and 0.397 with v1 (query first): v1 leaves the
relevance signal out of reach of a LoRA adapter trained on a few thousand
judgments, v2 does not.
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
