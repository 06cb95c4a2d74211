"""The media handlers: ``analysis``, ``transcode``, ``thumbnail``, ``filmstrip`` and ``package``.

Layer: handlers. Referenced from the built-in registry as ``pop.handlers.media.<name>:run``.
ffmpeg runs only through ``ctx.launch_external`` (the externalLaunchType runtime); probing runs
in-process with PyAV. Helpers: :mod:`.ffmpeg` (find the binary), :mod:`.capabilities` (its
encoders and filters, asked once per process), :mod:`.probe` (PyAV probe into the analysis output
shape), :mod:`.progress` (parse ``-progress`` output), :mod:`.inputs` and :mod:`.download` (input
paths and URLs, http(s) downloads), :mod:`.qc` (SSIM / VMAF checks).
"""
