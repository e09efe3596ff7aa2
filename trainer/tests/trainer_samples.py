"""Question/answer pairs the trainer tests synthesize from (a uniquely named module, so that
``from trainer_samples import QA`` cannot resolve to another folder's conftest)."""

QA = [
    {"id": "q1", "domain": "biology", "question": "why do plants need light for food",
     "answer": "plants use light energy in photosynthesis to make food from water with chlorophyll in the leaf"},
    {"id": "q2", "domain": "travel", "question": "what is the capital city of france",
     "answer": "paris is the capital of france and the eiffel tower is in paris on the river seine"},
    {"id": "q3", "domain": "pets", "question": "what food do cats and dogs eat",
     "answer": "cats eat fish and dogs eat food made for pets and both drink water"},
    {"id": "q4", "domain": "code", "question": "which computer language is good for data programs",
     "answer": "python is a computer language with good software for data and java is a language too"},
    {"id": "q5", "domain": "health", "question": "what does a kinase enzyme do in the cell",
     "answer": "a kinase is an enzyme protein in the cell and the body uses it for health and medicine"},
]

