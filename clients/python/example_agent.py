#!/usr/bin/env python3
"""
example_agent.py - a runnable Flowstate agent: type "enricher", job
"enrich_lead".

A lead {"name","email","phone","company"} comes back normalised: the name
trimmed and title-cased, the e-mail trimmed and lower-cased (and its
domain kept), the phone in E.164 form (+<country><digits>; ten digits
without a country get --default-country), the company guessed from the
e-mail's domain when missing.  A note about the lead is stored in the
shared memory (its id is in the result).  A lead without a usable e-mail is
bad input: the job fails at once, without retries.

    python3 clients/python/example_agent.py --url http://127.0.0.1:8080 \\
        --key-file flowstate.key --concurrency 4
    flowstate job enqueue enrich_lead --to enricher \\
        --payload '{"name":" jane DOE ","email":"Jane.Doe@Example.COM","phone":"(555) 010-2030"}'

SIGTERM or Ctrl-C stops it gracefully.
"""

import argparse
import logging
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from flowstate_agent import (  # noqa: E402
    AgentBase, FatalJobError, FlowstateError)

EMAIL = re.compile(r"^[^@\s]+@([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$")
FREE_MAIL = {"gmail.com", "yahoo.com", "outlook.com", "hotmail.com",
             "icloud.com", "proton.me"}


def normalise_phone(raw, default_country):
    """'+44 20 7946 0958' -> '+442079460958'; '(555) 010-2030' -> '+15550102030'
    (with default_country '1'); None when there are too few digits."""
    if not raw:
        return None
    s = str(raw).strip()
    if s.startswith("00"):
        s = "+" + s[2:]
    digits = re.sub(r"\D", "", s)
    if s.startswith("+"):
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if len(digits) == 10 and default_country:
        return "+" + default_country + digits
    return "+" + digits if 11 <= len(digits) <= 15 else None


class Enricher(AgentBase):
    agent_type = "enricher"
    job_types = ["enrich_lead"]
    default_country = "1"

    def handle(self, job):
        lead = job.payload.get("lead", job.payload)
        email = str(lead.get("email") or "").strip().lower()
        m = EMAIL.match(email)
        if not m:
            raise FatalJobError(
                f"lead has no valid e-mail: {lead.get('email')!r}")
        domain = m.group(1)
        out = dict(lead)
        out["email"] = email
        out["domain"] = domain
        if lead.get("name"):
            out["name"] = " ".join(str(lead["name"]).split()).title()
        if "phone" in lead:
            out["phone"] = normalise_phone(lead["phone"], self.default_country)
        if not lead.get("company") and domain not in FREE_MAIL:
            out["company"] = domain.split(".")[-2].capitalize()
        note = (f"Lead {out.get('name') or email} <{email}> enriched: "
                f"company {out.get('company') or 'unknown'}, "
                f"phone {out.get('phone') or 'none'}")
        out["memory_id"] = self.memory_add(
            note, kind="lead_note", tags=["lead", domain],
            metadata={"email": email, "job": job.id})
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="server (env FLOWSTATE_URL; "
                    "default http://127.0.0.1:8080)")
    ap.add_argument("--key-file", help="admin key file (env "
                    "FLOWSTATE_KEY_FILE; or set FLOWSTATE_API_KEY)")
    ap.add_argument("--concurrency", type=int, default=1,
                    help="jobs handled at once (1)")
    ap.add_argument("--name", help="agent name (default enricher-HOST-PID)")
    ap.add_argument("--default-country", default="1",
                    help="country code for ten-digit phones (1)")
    ap.add_argument("--log-level", default="info",
                    choices=["debug", "info", "warning", "error"])
    a = ap.parse_args()
    logging.basicConfig(level=a.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: "
                               "%(message)s")
    agent = Enricher(a.url, key_file=a.key_file, concurrency=a.concurrency,
                     name=a.name)
    agent.default_country = a.default_country
    try:
        return agent.run()
    except (FlowstateError, OSError, ValueError) as e:
        print(f"example_agent: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
