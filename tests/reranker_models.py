"""Tiny random reranker models of every family the SDK reads, built here (no downloads).

Each builder writes a folder in the format its family is published in:

* cross-encoders (BERT, ELECTRA, XLM-R, DeBERTa-v2, ModernBERT): a
  ``*ForSequenceClassification`` saved by sentence-transformers' ``CrossEncoder``
  (its ``config.json`` records the activation, as real ones do);
* a DeAR-style LLM classifier: ``LlamaForSequenceClassification``, one label;
* a Qwen3-Reranker-format model: ``Qwen3ForCausalLM`` with Qwen's chat special
  tokens and a README that marks it ``pipeline_tag: text-ranking``;
* a bge-reranker-v2-gemma-format model: ``GemmaForCausalLM``, likewise marked.

The weights are random: these models test plumbing and parity with the
reference code on the same weights, not quality.
"""

from __future__ import annotations

from pathlib import Path

WORDS = """
the a an of to in and or is are was were be for on with as by at from that this it its not no yes
what how why when where who which do does did can could should would will may
relevance label relevant irrelevant partially document query question passage answer answers
judge whether meets requirements based provided note only search write please instruct given web retrieve
explain explanation because so then end about rate 0 1 2 3 4 5 6 7 8 9 10
cat cats dog dogs animal food eat water plant plants sun light energy make makes
photosynthesis chlorophyll leaf leaves green tree forest river sea fish sugar sugars glucose
city paris france london capital country tower eiffel computer program code python language
kinase enzyme protein cell body blood heart disease berlin population million museums
llama camelid domesticated south american machine learning subset intelligence
""".split()
PUNCT = list(".,:;?!'\"()[]<>{}|#-_/=+*&%$@")
EXTRA_WORDS: list[str] = []


def word_tokenizer(style: str = "bert", *, pad_is_eos: bool = False, append_eos: bool = False, bos: bool = False,
                   specials: tuple[str, ...] = ()):
    """A word-level fast tokenizer with the pair template of ``style`` (``"bert"``, ``"roberta"`` or ``"decoder"``)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    if style == "bert":
        base = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    elif style == "roberta":
        base = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    else:
        base = ["[PAD]", "[UNK]", "<s>", "</s>"]
    vocab: dict[str, int] = {}
    for tok in base + list(specials) + WORDS + EXTRA_WORDS + PUNCT + ["yes", "no", "Yes", "No", "A", "B"]:
        vocab.setdefault(tok, len(vocab))
    unk = "[UNK]" if style != "roberta" else "<unk>"
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk))
    if style != "decoder":
        tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    kwargs: dict = {"unk_token": unk}
    if style == "bert":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
        kwargs.update(pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                      model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    elif style == "roberta":
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
            special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])])
        kwargs.update(pad_token="<pad>", bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
                      mask_token="<mask>")
    else:
        single = ("<s> " if bos else "") + "$A" + (" </s>" if append_eos else "")
        pair = ("<s> " if bos else "") + "$A $B:1" + (" </s>:1" if append_eos else "")
        if bos or append_eos:
            tok.post_processor = processors.TemplateProcessing(
                single=single, pair=pair, special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])])
        kwargs.update(bos_token="<s>", eos_token="</s>", pad_token="</s>" if pad_is_eos else "[PAD]")
    if specials:
        kwargs["additional_special_tokens"] = list(specials)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)
    fast.model_max_length = 512
    return fast


def _save_cross_encoder(model, tokenizer, folder: Path, activation=None, st_format: bool = True) -> Path:
    """Save ``model`` and ``tokenizer``, then re-save through sentence-transformers' CrossEncoder."""
    if not st_format:  # plain transformers (where sentence-transformers is not installed)
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        return folder
    from sentence_transformers import CrossEncoder

    raw = folder.parent / (folder.name + "-hf")
    model.save_pretrained(raw, safe_serialization=True)
    tokenizer.save_pretrained(raw)
    kwargs = {"activation_fn": activation} if activation is not None else {}
    CrossEncoder(str(raw), **kwargs).save_pretrained(str(folder))
    return folder


def build_cross_encoder(folder: Path, family: str = "bert", *, num_labels: int = 1, activation=None,
                        seed: int = 0, head_dim: int = 16, layers: int = 2, st_format: bool = True) -> Path:
    """A tiny random cross-encoder of ``family`` saved in sentence-transformers' format.

    ``head_dim=64``: attention heads vLLM's CPU kernels run (they refuse 16). ``layers=3``: ModernBERT gets a
    global layer after its sliding-window layer, so what the window does to padding reaches the CLS token.
    """
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    small = {"hidden_size": 2 * head_dim, "num_hidden_layers": layers, "num_attention_heads": 2,
             "intermediate_size": 4 * head_dim, "num_labels": num_labels}
    if family == "bert":
        tok = word_tokenizer("bert")
        model = tf.BertForSequenceClassification(tf.BertConfig(vocab_size=len(tok), max_position_embeddings=128,
                                                               pad_token_id=tok.pad_token_id, **small))
    elif family == "electra":
        tok = word_tokenizer("bert")
        model = tf.ElectraForSequenceClassification(tf.ElectraConfig(
            vocab_size=len(tok), embedding_size=16, max_position_embeddings=128, pad_token_id=tok.pad_token_id,
            **small))
    elif family == "xlm-roberta":
        tok = word_tokenizer("roberta")
        model = tf.XLMRobertaForSequenceClassification(tf.XLMRobertaConfig(
            vocab_size=len(tok), max_position_embeddings=130, pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, type_vocab_size=1, **small))
    elif family == "deberta-v2":
        tok = word_tokenizer("bert")
        model = tf.DebertaV2ForSequenceClassification(tf.DebertaV2Config(
            vocab_size=len(tok), max_position_embeddings=128, pad_token_id=tok.pad_token_id, relative_attention=True,
            position_buckets=32, pos_att_type=["p2c", "c2p"], **small))
    elif family == "modernbert":
        tok = word_tokenizer("bert")
        model = tf.ModernBertForSequenceClassification(tf.ModernBertConfig(
            vocab_size=len(tok), max_position_embeddings=128, pad_token_id=tok.pad_token_id,
            cls_token_id=tok.cls_token_id, sep_token_id=tok.sep_token_id, global_attn_every_n_layers=2,
            local_attention=16, **small))
    else:
        raise ValueError(family)
    model.eval()
    return _save_cross_encoder(model, tok, folder, activation, st_format)


def build_llm_classifier(folder: Path, *, pad_is_eos: bool = False, append_eos: bool = False, seed: int = 0) -> Path:
    """A tiny DeAR-style ``LlamaForSequenceClassification`` (one label) with a BOS-adding tokenizer."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    tok = word_tokenizer("decoder", pad_is_eos=pad_is_eos, append_eos=append_eos, bos=True)
    config = tf.LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                            pad_token_id=tok.pad_token_id, num_labels=1)
    model = tf.LlamaForSequenceClassification(config)
    with torch.no_grad():
        model.score.weight.normal_(0, 1.0)  # a visible spread of scores
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


QWEN_SPECIALS = ("<|im_start|>", "<|im_end|>", "<think>", "</think>", "<|endoftext|>")


def build_causal_preset(folder: Path, family: str = "qwen3", *, seed: int = 0, readme: bool = True,
                        head_dim: int = 8) -> Path:
    """A tiny Qwen3-Reranker-format (``family="qwen3"``) or bge-reranker-v2-gemma-format (``"gemma"``) causal LM."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    if family == "qwen3":
        tok = word_tokenizer("decoder", specials=QWEN_SPECIALS)
        tok.eos_token = "<|im_end|>"
        config = tf.Qwen3Config(vocab_size=len(tok), hidden_size=4 * head_dim, intermediate_size=64,
                                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=head_dim,
                                max_position_embeddings=1024, eos_token_id=tok.eos_token_id,
                                pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
        model = tf.Qwen3ForCausalLM(config)
    elif family == "gemma":
        tok = word_tokenizer("decoder")
        config = tf.GemmaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=1, head_dim=8,
                                max_position_embeddings=1024, bos_token_id=tok.bos_token_id,
                                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                                tie_word_embeddings=False)
        model = tf.GemmaForCausalLM(config)
    else:
        raise ValueError(family)
    with torch.no_grad():
        model.get_output_embeddings().weight.normal_(0, 2.0)  # sharper next-token distributions: visible score spread
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    if readme:
        (folder / "README.md").write_text("---\nlicense: apache-2.0\npipeline_tag: text-ranking\ntags:\n"
                                          "- transformers\n---\n# a tiny reranker for tests\n")
    return folder
