/** The project every request and job belongs to until keys name one; its data is the store root (today's layout). */
export const DEFAULT_PROJECT_ID = 'default'
