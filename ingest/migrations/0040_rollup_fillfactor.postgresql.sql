-- Plain PostgreSQL only: leave room in the rollup tables' pages so that the writer's upserts are HOT updates.
-- Every committed batch updates the current 15-minute and hourly rows of each device and quantity it carries; a
-- HOT update (heap-only tuple: no indexed column changes and the new version fits in the same page) writes no new
-- entry in the primary key or the bucket index. At fillfactor 100 the pages of these append-mostly tables are
-- full, so every update moved the row and touched both indexes. Measured (docs/performance.md): the readings
-- statement with its rollup upserts went from about 210-240 to 135-185 µs of backend CPU per uplink during a
-- backlog drain. Cost: up to 30 % more heap pages for the rollups. Applies to pages written from now on.
ALTER TABLE readings_15m SET (fillfactor = 70);
ALTER TABLE readings_1h SET (fillfactor = 70);
