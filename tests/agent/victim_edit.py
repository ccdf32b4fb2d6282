"""A rep's edit of a draft to a victim lead, full of that lead's data (names, account number,
phone, address, links, a quoted reply), and the strings none of which may survive redaction."""

VICTIM_EDIT = (
    "Hi Ottoline,\n\nAs promised, the Vexbridge Holdings pilot for account 4417-QX-9921 starts "
    "on 12 January. I'll call you at +1 (415) 555-0199 or drop by 88 Harbour Road, Leith. You "
    "said “our CFO Priya Raman signs everything” – see https://vexbridge-drill.io/pilot, "
    "vexbridge-drill.io/terms or write to ottoline@vexbridge-drill.io.\n"
    "> On Monday you wrote: my mobile is 07700 900123\n\n"
    "Does Thursday 10:00 work?\n\nBest,\nRiley"
)
VICTIM_STRINGS = ["ottoline", "vexbridge", "4417", "9921", "qx", "415", "555", "0199", "88",
                  "harbour", "leith", "priya", "raman", "cfo", "drill.io", "07700", "900123",
                  "12 january", "pilot, ", "10:00"]
