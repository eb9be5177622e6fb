import asyncio


async def fetch_one(name, delay):
    await asyncio.sleep(delay)
    return f"{name} finished after {delay:.1f}s"


async def fetch_all(jobs, limit=3):
    """Run the (name, delay) jobs with at most `limit` running at a time; results in job order."""
    semaphore = asyncio.Semaphore(limit)

    async def guarded(name, delay):
