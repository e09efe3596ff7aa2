"""The tiny test model's vocabulary and chat template (a uniquely named module: tests/ and trainer/tests are
collected together, so ``from conftest import ...`` can reach the wrong conftest)."""

WORDS = """
the a an of to in and or is are was were be for on with as by at from that this it its not no yes
what how why when where who which do does did can could should would will may might must
i you he she we they me him her us them my your his our their
relevance label relevant irrelevant partially document query question passage answer answers
judge whether meets requirements based provided note only search write please write queries
explain explanation because so then end reasoning about rate 0 1 2 3 4 5 6 7 8 9 10
cat cats dog dogs animal animals pet pets food eat eats eating water drink plant plants sun light energy
photosynthesis chlorophyll leaf leaves green tree trees forest river rivers sea ocean fish
city cities paris france london england capital country countries tower eiffel river seine
computer computers program programs code python java language languages software data
kinase enzyme protein proteins cell cells body blood heart disease medicine doctor health
car cars engine fuel road roads drive speed fast slow big small new old good bad
history war king queen year years day days time people world life work home school
""".split()
SPECIALS = ["[PAD]", "[UNK]", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
PUNCT = list(".,:;?!'\"()[]<>{}|#-_/=+*&%$@")
