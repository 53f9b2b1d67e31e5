"""A region's working days (official calendar, the region's plugins, administrators' days), deadlines
counted in them, and the administrators' 工作日历 page. The arithmetic itself is ``core.kernel.time``."""
