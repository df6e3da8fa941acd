"""`syncd run`: the scheduler, the webhook receivers, the inbox worker and leadership, wired together.

`daemon` owns the lifecycle (start, reload, shutdown); `webhook` receives Cogny's signed events;
`inbound` the targets' own webhooks; `worker` drains the inbox; `leader` elects the replica that
schedules polls on PostgreSQL.
"""
