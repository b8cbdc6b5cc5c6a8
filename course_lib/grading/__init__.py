"""Grading and whole-course runs, for instructors.

* ``python -m course_lib grade SUBMISSIONS/ --out GRADEBOOK/`` (``grade``): re-executes every
  submitted notebook in a fresh, isolated process (forked by a warm worker, ``pool``; in fast mode
  only what a grade depends on, ``cut``), grades each exercise's captured function in a pristine
  process, and writes the gradebook (``report``).
* ``python -m course_lib run [--full] [--out DIR] [--only NN]`` (``headless``): executes every
  notebook headless and checks the results the course claims against the README.
* ``guide.render()`` writes ``docs/instructors.md``'s generated part from the exercise registry.
"""
