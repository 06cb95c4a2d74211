"""The media handlers: ``analysis`` (probe inputs) and ``transcode`` (renditions with QC).

Layer: handlers. Referenced from the built-in registry as ``pop.handlers.media.analysis:run`` and
``pop.handlers.media.transcode:run``. ffmpeg runs only through ``ctx.launch_external`` (the
externalLaunchType runtime); probing runs in-process with PyAV. Helpers: :mod:`.ffmpeg` (find the
binary), :mod:`.probe` (PyAV probe into the analysis output shape), :mod:`.progress` (parse
``-progress`` output), :mod:`.inputs` (input paths and URLs).
"""
