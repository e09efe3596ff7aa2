"""The InteRank recipe: a generative (causal-LM) reranker trained on a teacher's judgments, as a LoRA adapter.

* :mod:`~interank_trainer.generative.config`: :class:`~interank_trainer.SynthesizeConfig`,
  :class:`~interank_trainer.DistillConfig`, :class:`~interank_trainer.RLConfig`,
  :class:`~interank_trainer.RankConfig`;
* :mod:`~interank_trainer.generative.synthesize`: a teacher writes queries for QA pairs and
  judges candidates (:func:`~interank_trainer.synthesize`);
* :mod:`~interank_trainer.generative.distill`: LoRA/QLoRA SFT with TRL's ``SFTTrainer``
  (:func:`~interank_trainer.distill`);
* :mod:`~interank_trainer.generative.rl`, :mod:`~interank_trainer.generative.rewards`: GRPO or
  reward-weighted SFT (:func:`~interank_trainer.rl`);
* :mod:`~interank_trainer.generative.rank`, :mod:`~interank_trainer.generative.layercache`: a
  ``yesno``/``graded`` scorer fine-tuned with a ranking loss (:func:`~interank_trainer.rank`);
* :mod:`~interank_trainer.generative.models`: loading a student through the SDK's own loader,
  LoRA settings, writing adapter folders;
* :mod:`~interank_trainer.generative.targets`: single-token label forms, reading outputs back.

The judged datasets they train on are :mod:`interank_trainer.data` folders.
"""
