"""Sample texts shared by several test modules (a uniquely named module: tests/ and trainer/tests are collected together)."""

PLANT_QUERY = "how do plants make food from sunlight"
#: two relevant passages first and third; the rest are off topic
PLANT_DOCS = [
    "Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide to make glucose.",
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
    "Chlorophyll in the leaves absorbs light energy that drives the making of sugars.",
    "Python is a programming language that lets you work quickly.",
]

#: short, lower-cased texts for the tiny random classifiers (tests/reranker_models.py) and the MiniLM body
CLASSIFIER_QUERY = "how do plants make food from sunlight ?"
CLASSIFIER_DOCS = [
    "photosynthesis is the process by which green plants use sun light and water to make sugar .",
    "the eiffel tower is in paris .",
    "chlorophyll in the leaves makes sugars from light energy , which is how plants make food .",
    "python is a computer language .",
    "what is a kinase ? a kinase is an enzyme that moves a protein . it is in the cell and the body .",
]
