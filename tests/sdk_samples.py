"""Sample texts shared by several test modules (a uniquely named module: tests/ and trainer/tests are collected together)."""

PLANT_QUERY = "how do plants make food from sunlight"
#: two relevant passages first and third; the rest are off topic
PLANT_DOCS = [
    "Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide to make glucose.",
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
    "Chlorophyll in the leaves absorbs light energy that drives the making of sugars.",
    "Python is a programming language that lets you work quickly.",
]
