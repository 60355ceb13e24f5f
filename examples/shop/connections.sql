-- Where the raw data lands: a folder of files, relative to the project.
-- `headwater demo` (or headwater.demo.generate) fills it with a month of a web shop's exports.
CREATE FILES CONNECTION landing PATH = 'data/landing';
