
x{"event":"participant_joined","room":{"name":"cx-0f8fad5b-d9cb-469f-a165-70867728950e"},"participant":{"identity":"u1","a.b.capplication/json