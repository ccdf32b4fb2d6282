"""Run as a separate process by the durability tests: a fresh runtime, graph and worker on the
same database, driven until idle. Configuration comes from the environment like `hitl serve`."""

from config.settings import load_settings
from hitl.wiring import build_runtime
from service import jobs
from service.worker import Worker

if __name__ == "__main__":
    rt = build_runtime(load_settings())
    jobs.release_all_leases(rt.db)  # as `hitl serve` does on SQLite after a crash
    worker = Worker(rt, threads=2)
    worker.run_until_idle(timeout=90)
    worker.stop()
    print("idle", flush=True)
