"""The application around the engine: the ``vidpipe`` command (``cli``, its job
options made from JobSpec in ``options``, the server/deploy/worker/watch commands in
``ops``), ``bench``, ``doctor``, the folder ``watch`` and logging set-up."""
