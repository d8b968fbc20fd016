"""Real intake paths: citizen requests (书记在线 / 民意速办), machine-found events (AI cameras,
IoT sensors) in bulk, and risk-grading inspection records. See docs/intake.md."""
