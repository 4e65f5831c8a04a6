"""Log rotation under continuous writes, with the real agent and gateway:
rotation by rename (the application reopens its log a little later, as
after a SIGHUP) and by copytruncate (logrotate copies the file, then
truncates it in place). Every written line must reach the sink exactly once.

copytruncate has a race no tailer can close: lines written between the copy
and the truncate exist in neither file the agent reads (logrotate documents
this). The test rotates between two writes of the application, which is the
guarantee the agent gives: everything written before the copy, and after the
truncate, arrives. Lines written after the agent's last read but before the
copy are read from the rotated copy (app.log.1).
"""
import os
import shutil
import tempfile
import time
import unittest

from agent_delivery_test import DeliveryTestCase
from harness import Agent, Gateway, LineWriter


GENERATIONS = 4


def shift_generations(path):
    """app.log.3 -> app.log.4, ..., app.log.1 -> app.log.2 (like logrotate)."""
    oldest = f"{path}.{GENERATIONS}"
    if os.path.exists(oldest):
        os.unlink(oldest)
    for n in range(GENERATIONS - 1, 0, -1):
        if os.path.exists(f"{path}.{n}"):
            os.rename(f"{path}.{n}", f"{path}.{n + 1}")


class RotationTest(DeliveryTestCase):
    def run_with_rotations(self, rotate, rotations=8, interval=0.6):
        gateway = self.start(Gateway(self.workdir))
        self.writer = LineWriter(self.log_file, rate=3000).start()
        agent = self.start(Agent(self.workdir, gateway.listen_port, [self.log_file]))
        for _ in range(rotations):
            time.sleep(interval)
            rotate()
        time.sleep(interval)
        written = self.writer.stop()
        self.assert_each_line_once([gateway], written)
        return agent

    def test_rename_rotation_with_late_reopen(self):
        def rotate():
            with self.writer.lock:
                shift_generations(self.log_file)
                os.rename(self.log_file, self.log_file + ".1")
            # The application keeps writing to the renamed file until it
            # reopens (its SIGHUP handler runs a little later).
            time.sleep(0.1)
            self.writer.reopen()

        agent = self.run_with_rotations(rotate)
        log = agent.log_text()
        self.assertIn("was rotated", log)

    def test_copytruncate_rotation(self):
        def rotate():
            with self.writer.lock:  # between two writes of the application
                shift_generations(self.log_file)
                shutil.copyfile(self.log_file, self.log_file + ".1")
                os.truncate(self.log_file, 0)

        agent = self.run_with_rotations(rotate)
        log = agent.log_text()
        self.assertIn("copytruncate", log)


if __name__ == "__main__":
    unittest.main()
