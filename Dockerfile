# The phone agent service (`dgtrio phone`): Twilio Media Streams in, one Deepgram
# voice agent per call. Give it one worker per core it gets (--workers), and the
# secrets in the environment: TWILIO_AUTH_TOKEN and DEEPGRAM_API_KEY.
#
#   docker build -t dgtrio-phone .
#   docker run -p 8080:8080 -e TWILIO_AUTH_TOKEN -e DEEPGRAM_API_KEY dgtrio-phone \
#       --public-url wss://calls.example.com/phone --workers 2
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 dgtrio
WORKDIR /app
COPY pyproject.toml README.md ./
COPY dgtrio ./dgtrio
RUN pip install --no-cache-dir '.[phone]'
USER 10001
EXPOSE 8080
# Plain ws:// behind the load balancer, which ends TLS; SIGTERM drains (see docs/phone.rst).
ENTRYPOINT ["dgtrio", "phone", "--host", "0.0.0.0", "--port", "8080"]
