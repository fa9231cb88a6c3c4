# maedfer serve on a CPU, as a non-root user, with a health check.
#
#   docker build -t maedfer-serve .
#   docker run -p 8000:8000 -e MAEDFER_TOKEN="$(cat token.txt)" \
#       -v "$PWD/runs/finetune:/models:ro" maedfer-serve --checkpoint /models/checkpoint-last.pth
#
# The server listens on 0.0.0.0 inside the container, so it needs a token (MAEDFER_TOKEN, or
# --token-file on a mounted file); put a TLS-terminating proxy in front of it (docs/predict.md).
FROM python:3.11-slim

# the CPU build of torch (PyPI's Linux wheel carries CUDA: gigabytes this image does not need)
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /opt/maedfer
COPY pyproject.toml README.md ./
COPY maedfer ./maedfer
RUN pip install --no-cache-dir '.[serve]' && useradd --create-home --uid 10001 maedfer

USER maedfer
ENV MAEDFER_HOME=/home/maedfer/.cache/maedfer PYTHONUNBUFFERED=1
EXPOSE 8000
# ready: the model is loaded and the line has room (no token needed for it)
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4)"
ENTRYPOINT ["python", "-m", "maedfer", "serve", "--host", "0.0.0.0", "--port", "8000"]
