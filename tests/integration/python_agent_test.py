"""
python_agent_test.py - the agent test_python_agent.c runs against a real
server, through clients/python/flowstate_agent.py.

Agent type "pyagent", one worker (so a job done after a hang proves the
stuck worker was replaced), 1 s grace.  Server and admin key come from
FLOWSTATE_URL and FLOWSTATE_API_KEY.  Job types:

    echo      {"n"} -> {"n","doubled","attempt","agent"}
    crash     raises RuntimeError("boom on lead <lead>")
    fatal     raises FatalJobError("bad input: no e-mail")
    hang      sleeps an hour, never looking at job.cancelled
    watch     waits for job.cancelled, records {"cancelled": job id,
              "reason"} in the agent's state, then raises
    remember  memory_add(text) then memory_search(text) -> {"id","found"}
    delegate  create_job("echo", "pyagent", {"n"}) -> {"child"}
    count     get_state / put_state(state + count + 1, version)
              -> {"count","version"}
"""

import logging
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "clients", "python"))

from flowstate_agent import AgentBase, FatalJobError  # noqa: E402


class TestAgent(AgentBase):
    agent_type = "pyagent"
    job_types = ["echo", "crash", "fatal", "hang", "watch", "remember",
                 "delegate", "count"]
    concurrency = 1
    grace = 1.0
    wait_ms = 500

    def handle(self, job):
        p = job.payload
        if job.type == "echo":
            return {"n": p["n"], "doubled": 2 * p["n"], "attempt": job.attempt,
                    "agent": self.agent_id}
        if job.type == "crash":
            raise RuntimeError(f"boom on lead {p.get('lead')}")
        if job.type == "fatal":
            raise FatalJobError("bad input: no e-mail")
        if job.type == "hang":
            time.sleep(3600)
            return {"woke": True}
        if job.type == "watch":
            while not job.wait_cancelled(0.05):
                pass
            state, version = self.get_state()
            state.update(cancelled=job.id, reason=job.cancel_reason)
            self.put_state(state, version)
            raise RuntimeError("cancelled")
        if job.type == "remember":
            doc = self.memory_add(p["text"], kind="note", tags=["py"])
            hits = self.memory_search(p["text"], limit=3)
            return {"id": doc, "found": any(h["id"] == doc for h in hits)}
        if job.type == "delegate":
            child = self.create_job("echo", self.agent_type, {"n": p["n"]})
            return {"child": child["id"]}
        if job.type == "count":
            state, version = self.get_state()
            state["count"] = state.get("count", 0) + 1
            return {"count": state["count"],
                    "version": self.put_state(state, version)}
        raise FatalJobError(f"unknown job type {job.type}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    sys.exit(TestAgent().run())
