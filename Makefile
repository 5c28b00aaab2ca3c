# Thin wrappers for those who like make; course.py holds the logic (make is not on every machine).
.PHONY: setup lab test bench site
setup: ; python3 course.py setup
lab: ; python3 course.py lab
test: ; python3 course.py test
bench: ; python3 course.py bench
site: ; python3 course.py site
