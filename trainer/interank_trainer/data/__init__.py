"""The data both recipes read and write: inputs, candidate pools, judgments, synthetic queries, dataset files.

* :mod:`~interank_trainer.data.config`: :class:`~interank_trainer.SamplingConfig`,
  :class:`~interank_trainer.JudgmentsConfig`;
* :mod:`~interank_trainer.data.formats`: the dataset folder format (rows, manifest,
  progress), JSONL I/O and the resume helpers;
* :mod:`~interank_trainer.data.passages`: a user's passages, cleaned and cut;
* :mod:`~interank_trainer.data.bm25`: BM25 over a list of passages (the SDK's index);
* :mod:`~interank_trainer.data.pools`: candidate pools of one query (judgments + a run,
  QA pairs, a corpus with synthetic queries), sampled by a ``SamplingConfig``;
* :mod:`~interank_trainer.data.judgments`: TREC/BEIR judgments -> a training dataset
  (:func:`~interank_trainer.prepare_judgments`);
* :mod:`~interank_trainer.data.querygen`, :mod:`~interank_trainer.data.synthetic`: the
  teacher writes search queries (for QA pairs, for corpus passages);
* :mod:`~interank_trainer.data.adapt_inputs`: the documents, QA pairs and judgments
  :func:`~interank_trainer.adapt` adapts to.
"""
