"""督办看板: what is overdue or at risk now, by department, community and district.

One home for the board: the rule for which cases are on it (``query``), the words and local
times people read (``labels``), tables (``render``), run tags and Prefect events that follow
each case's current holder (``runs``), the Prefect artifacts a sweep publishes (``publish``)
and the Chinese trail artifact of a case (``trail``). See docs/boards.md.
"""
