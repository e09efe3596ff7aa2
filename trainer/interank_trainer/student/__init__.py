"""The cross-encoder student recipe: any teacher ``Reranker`` scores candidate pools, a fast student learns the scores.

* :mod:`~interank_trainer.student.config`: :class:`~interank_trainer.TeachConfig`,
  :class:`~interank_trainer.StudentConfig`, :class:`~interank_trainer.AdaptConfig`;
* :mod:`~interank_trainer.student.teach`, :mod:`~interank_trainer.student.teach_ray`: teacher
  scores over pools, resumable, in one process or on Ray (:func:`~interank_trainer.teach`);
* :mod:`~interank_trainer.student.student_data`: the students' targets and training examples
  from those scores;
* :mod:`~interank_trainer.student.trainer`: the student trained with sentence-transformers'
  ``CrossEncoderTrainer`` (:func:`~interank_trainer.train_student`), with the losses of
  :mod:`~interank_trainer.student.losses` and the budget schedule of
  :mod:`~interank_trainer.student.schedule`;
* :mod:`~interank_trainer.student.adapt` (with ``adapt_base``, ``adapt_eval``, ``adapt_report``):
  teach + student on a user's own data, with a held-out before/after report
  (:func:`~interank_trainer.adapt`).
"""
